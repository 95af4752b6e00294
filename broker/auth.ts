/**
 * Request defences: browsers and DNS rebinding are refused, every request but /health carries
 * the user secret, and a peer is whoever its session credential names (never a body field).
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import { type PeerId, SESSION_HEADER } from "./protocol.ts";
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

/** Compares in constant time for equal lengths. */
function sameSecret(given: string, secret: string): boolean {
  const a = encoder.encode(given);
  const b = encoder.encode(secret);
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
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
