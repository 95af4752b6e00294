/**
 * Proving a broker is ours before trusting it: a client sends a fresh random challenge to
 * `GET /health`, and only a broker that holds the user's secret can answer with
 * HMAC-SHA256(secret, challenge). Nothing of the secret leaves the client, so a program of
 * another user squatting the port learns nothing and is refused before any credential or
 * message body is sent to it. Web Crypto only (no `node:` modules): the waiting hook uses it too.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * How long after the proven broker's last reply a client sends a credential without proving
 * the broker again: a burst of calls costs one proof, while a pause long enough for the broker
 * to die and another program to take the port costs one round trip before anything leaves.
 */
export const PROOF_FRESH_MS = 1_000;

/** A fresh challenge: 16 random bytes, hex. */
export function newChallenge(): string {
  return hex(crypto.getRandomValues(new Uint8Array(16)));
}

/** What the broker holding `secret` answers to `challenge`. */
export function brokerProof(secret: string, challenge: string): Promise<string> {
  return hmacHex(secret, `claude-peers broker ${challenge}`);
}

/** HMAC-SHA256 of `message` keyed with `secret`, hex: the proof and the hook token both use it. */
export async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return hex(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message))));
}

/** A challenge as the broker accepts it: 16-64 lowercase hex digits. */
export const CHALLENGE_PATTERN = /^[0-9a-f]{16,64}$/;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
