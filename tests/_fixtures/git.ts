/**
 * Runs git for a test, with a throwaway identity: `await git(dir, "init", "-q")`.
 *
 * @module
 */

/** Runs `git args` in `cwd`; throws with git's stderr when it fails. */
export async function git(cwd: string, ...args: string[]): Promise<void> {
  const output = await new Deno.Command("git", {
    args: ["-c", "user.email=t@example.com", "-c", "user.name=t", ...args],
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
}
