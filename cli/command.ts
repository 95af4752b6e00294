/**
 * The shape of one CLI command, shared by the command files and the table in mod.ts. A
 * command parses its own arguments; it never exits the process itself (main.ts and fail.ts
 * do, from its exit code or its error).
 *
 * @module
 */
import type { Config } from "../broker/config.ts";

/** One subcommand of claude-peers: its name, its help and what it does. */
export interface Command {
  /** The word after `claude-peers`, e.g. "kill-broker". */
  readonly name: string;
  /** One line for the "Commands:" list of the main help. */
  readonly summary: string;
  /** The command's help, shown by `--help` and after a usage error. */
  readonly help: string;
  /** Runs the command on the arguments after its name; resolves to the exit code. */
  run(args: string[], config: Config): Promise<number>;
}

/**
 * Rejects any argument: for commands that take none (throws parseArgs' TypeError). node:util
 * loads only when there are arguments: the first `node:` module loads Node's polyfills, ~4 ms
 * of `claude-peers mcp`'s start-up (issue 11).
 */
export async function parseNoArguments(args: string[]): Promise<void> {
  if (args.length === 0) return;
  const { parseArgs } = await import("node:util");
  parseArgs({ args, options: {}, strict: true });
}
