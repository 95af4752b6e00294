/**
 * Reading the per-user secret, and nothing else: no crypto is loaded here, so a waiting hook
 * (which only reads the secret the broker made) stays small. `secret.ts` creates it.
 *
 * @module
 */

/** The secret at `path`, or null when the file does not exist (or holds no secret yet). */
export async function readSecret(path: string): Promise<string | null> {
  try {
    const text = (await Deno.readTextFile(path)).trim();
    return text.length === 64 ? text : null;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
