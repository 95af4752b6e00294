/**
 * The real CLI, run to completion in a test's environment; stdout, stderr and the exit code
 * come back apart.
 *
 * @module
 */
import type { TestEnv } from "./env.ts";

/** Result of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI with `args` in `testEnv`, optionally feeding `stdin`, in `cwd`. */
export async function runCli(
  testEnv: Pick<TestEnv, "command" | "dir" | "env">,
  args: string[],
  stdin?: string,
  cwd?: string,
): Promise<CliResult> {
  const { command, args: fullArgs } = testEnv.command(args);
  const child = new Deno.Command(command, {
    args: fullArgs,
    cwd: cwd ?? testEnv.dir,
    env: testEnv.env,
    clearEnv: true,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
