/**
 * Reading an HTTP/1.1 request head the way the connection gate needs it: where it ends, how
 * long its body is, and whether it carries the user's credentials (the bearer secret, or the
 * hook token in a `/hook/context` URL). It never decides what a request means; the broker does.
 *
 * @module
 */
import { sameSecret } from "./auth.ts";

/** The credentials that make a connection trusted. */
export interface GateCredentials {
  /** The user secret, sent as `authorization: Bearer <secret>`. */
  secret: string;
  /** The hook token, sent as `?token=` by Claude Code's HTTP hooks. */
  hookToken: string;
}

/** What the gate learns from one request head. */
export type HeadVerdict =
  | { kind: "request"; authenticated: boolean; contentLength: number; chunked: boolean }
  | { kind: "bad"; reason: string };

const CRLFCRLF = [13, 10, 13, 10];
const latin1 = new TextDecoder("latin1");

/** The index just past the `\r\n\r\n` that ends the head in `bytes`, searching from `from`. */
export function headEnd(bytes: Uint8Array, from = 0): number {
  for (let i = Math.max(0, from); i + 3 < bytes.length; i++) {
    if (
      bytes[i] === CRLFCRLF[0] && bytes[i + 1] === CRLFCRLF[1] &&
      bytes[i + 2] === CRLFCRLF[2] && bytes[i + 3] === CRLFCRLF[3]
    ) {
      return i + 4;
    }
  }
  return -1;
}

/** Reads a complete request head (ending in `\r\n\r\n`) against `credentials`. */
export function readRequestHead(head: Uint8Array, credentials: GateCredentials): HeadVerdict {
  const lines = latin1.decode(head).split("\r\n");
  const [method, target, version] = (lines[0] ?? "").split(" ");
  if (!method || !target || !version?.startsWith("HTTP/1.")) {
    return { kind: "bad", reason: "malformed request line" };
  }
  const token = hookTokenOf(target);
  let authenticated = token !== null && sameSecret(token, credentials.hookToken);
  let contentLength: number | undefined;
  let chunked = false;
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) return { kind: "bad", reason: "malformed header line" };
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-length") {
      const length = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
      if (Number.isNaN(length) || (contentLength !== undefined && contentLength !== length)) {
        return { kind: "bad", reason: "malformed content-length" };
      }
      contentLength = length;
    } else if (name === "transfer-encoding") {
      chunked = true;
    } else if (name === "authorization" && value.startsWith("Bearer ")) {
      authenticated ||= sameSecret(value.slice(7), credentials.secret);
    }
  }
  return { kind: "request", authenticated, contentLength: contentLength ?? 0, chunked };
}

/** The `token` query parameter of a `/hook/context` target, if any. */
function hookTokenOf(target: string): string | null {
  if (!target.startsWith("/hook/context?")) return null;
  try {
    return new URLSearchParams(target.slice(target.indexOf("?") + 1)).get("token");
  } catch {
    return null;
  }
}
