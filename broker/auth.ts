/**
 * Request defences: browsers and DNS rebinding are refused, every request but /health carries
 * the user secret, and a peer is whoever its session credential names (never a body field).
 *
 * @module
 */
import { CLAUDE_SESSION_HEADER, ClaudeSessionId, type PeerId, SESSION_HEADER } from "./protocol.ts";
import type { PeerRegistry } from "./peers.ts";
import { Refusal } from "./refusal.ts";

const encoder = new TextEncoder();

/** Refuses requests a web page could make: an Origin header, or a Host other than ours. */
export function rejectBrowsers(request: Request, port: number): void {
  if (request.headers.has("origin")) {
    throw new Refusal(
      "forbidden",
      "Requests from web pages are refused (an Origin header was sent)",
    );
  }
  const host = request.headers.get("host");
  if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
    throw new Refusal("forbidden", `Host "${host}" is refused: use 127.0.0.1:${port}`);
  }
}

/** Refuses a request without the user secret as its bearer token. */
export function requireSecret(request: Request, secret: string): void {
  const header = request.headers.get("authorization") ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : "";
  if (!sameSecret(token, secret)) {
    throw new Refusal("unauthorized", "Missing or wrong broker secret in the Authorization header");
  }
}

/** Refuses a hook request whose URL does not carry the hook token. */
export function requireHookToken(request: Request, hookToken: string): void {
  const token = new URL(request.url).searchParams.get("token") ?? "";
  if (!sameSecret(token, hookToken)) {
    throw new Refusal("unauthorized", 'Missing or wrong hook token (run "claude-peers install")');
  }
}

/** Compares in constant time for equal lengths (no `node:crypto`: it costs ~3 MB of memory). */
export function sameSecret(given: string, secret: string): boolean {
  const a = encoder.encode(given);
  const b = encoder.encode(secret);
  if (a.byteLength !== b.byteLength) return false;
  let difference = 0;
  for (let i = 0; i < a.byteLength; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/** The peer whose session credential the request carries. */
export async function sessionPeerId(request: Request, registry: PeerRegistry): Promise<PeerId> {
  const session = request.headers.get(SESSION_HEADER);
  const owner = session ? await registry.sessionOwner(session, Date.now()) : null;
  if (!owner) {
    throw new Refusal(
      "session_unknown",
      "Missing or unknown peer session: register first (POST /register)",
    );
  }
  return owner;
}

/** Who calls: a peer by its session credential, or the hook of a Claude Code session. */
export interface Caller {
  peerId: PeerId;
  /** Whether a hook calls (it named its Claude Code session), not the peer's MCP server. */
  hook: boolean;
}

/**
 * The peer a request acts for: the one its session credential names or, for a hook, the one
 * its Claude Code session registered. Either way the user secret was checked first.
 */
export async function callerOf(request: Request, registry: PeerRegistry): Promise<Caller> {
  const claudeSession = request.headers.get(CLAUDE_SESSION_HEADER);
  if (claudeSession === null || request.headers.has(SESSION_HEADER)) {
    return { peerId: await sessionPeerId(request, registry), hook: false };
  }
  if (!ClaudeSessionId.safeParse(claudeSession).success) {
    throw new Refusal(
      "bad_request",
      `Malformed Claude Code session id in ${CLAUDE_SESSION_HEADER}`,
    );
  }
  const peerId = await registry.peerForClaudeSession(claudeSession, Date.now());
  if (!peerId) {
    throw new Refusal(
      "session_unknown",
      `No claude-peers server has registered for Claude Code session "${claudeSession}"`,
    );
  }
  return { peerId, hook: true };
}
