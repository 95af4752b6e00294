/**
 * The broker's hashes and tokens, made with Web Crypto (issue 11: `node:crypto` costs every
 * process ~3 MB), are the very values node:crypto made before: stored session hashes and the
 * hook tokens in users' settings stay valid.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { hashToken, randomHex } from "../broker/ids.ts";
import { hookToken } from "../broker/secret.ts";

Deno.test("hashToken is the SHA-256 hex of the credential's UTF-8 bytes", async () => {
  for (const token of ["", "abc", "0123456789abcdef".repeat(4), "ünïcødé ✓"]) {
    assert.equal(await hashToken(token), createHash("sha256").update(token).digest("hex"));
  }
  assert.equal(
    await hashToken("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("hookToken is the first 40 hex digits of HMAC-SHA256(secret, the hook label)", async () => {
  const secret = randomHex(32);
  const expected = createHmac("sha256", secret).update("claude-peers hook v1").digest("hex");
  assert.equal(await hookToken(secret), expected.slice(0, 40));
  assert.notEqual(await hookToken(randomHex(32)), await hookToken(secret));
});

Deno.test("randomHex gives that many fresh random bytes as lowercase hex", () => {
  const values = new Set(Array.from({ length: 100 }, () => randomHex(32)));
  assert.equal(values.size, 100);
  for (const value of values) assert.match(value, /^[0-9a-f]{64}$/);
});
