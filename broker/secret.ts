/**
 * The per-user secret every broker request but /health must carry. 32 random bytes, hex,
 * in an owner-only file inside an owner-only directory beside the database. Never logged.
 *
 * @module
 */
import { randomHex } from "./ids.ts";
import { hmacHex } from "./broker_proof.ts";
import { readSecret } from "./secret_file.ts";

/** Creates `dir` with mode 0700 (or tightens it) when it does not exist yet. */
export async function ensurePrivateDirectory(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  if (Deno.build.os !== "windows") await Deno.chmod(dir, 0o700);
}

/** Reads the secret at `path`, creating it first if missing. Safe when raced. */
export async function loadOrCreateSecret(path: string, dir: string): Promise<string> {
  await ensurePrivateDirectory(dir);
  const existing = await readSecret(path);
  if (existing) return existing;
  const secret = randomHex(32);
  try {
    await Deno.writeTextFile(path, secret, { createNew: true, mode: 0o600 });
    return secret;
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    return await waitForSecret(path);
  }
}

/** Another process created the file a moment ago and may not have written it yet. */
async function waitForSecret(path: string): Promise<string> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const secret = await readSecret(path);
    if (secret) return secret;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`The secret file "${path}" is malformed: delete it and restart the broker`);
}

/**
 * The token Claude Code's HTTP hooks put in their URL: derived from the secret (HMAC), so it
 * proves the hook was installed by this user without being the secret itself. It only lets a
 * hook take the messages of a Claude Code session whose id it names.
 */
export async function hookToken(secret: string): Promise<string> {
  return (await hmacHex(secret, "claude-peers hook v1")).slice(0, 40);
}
