/**
 * The shape of one CLI command, shared by the command files and the table in mod.ts. A
 * command parses its own arguments; it never exits the process itself (main.ts and fail.ts
 * do, from its exit code or its error).
 *
 * @module
 */
import { parseArgs } from "node:util";
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

/** Rejects any argument: for commands that take none (throws parseArgs' TypeError). */
export function parseNoArguments(args: string[]): void {
  parseArgs({ args, options: {}, strict: true });
}
