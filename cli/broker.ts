/**
 * `claude-peers broker`: run the broker in the foreground, optionally logging to a file.
 * The broker's code is imported only when this command runs, so no other mode loads it.
 *
 * @module
 */
import { type Config, parentPath } from "../broker/config.ts";
import { errorMessage, log, logToFile, setLogPrefix } from "../broker/log.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./fail.ts";

/** `claude-peers broker [--log-file PATH]`. */
export const brokerCommand: Command = {
  name: "broker",
  summary: "run the broker in the foreground",
  help: `Usage: claude-peers broker [--log-file PATH]

Runs the broker in the foreground on 127.0.0.1:$CLAUDE_PEERS_PORT (default 7899).
Claude Code sessions start it in the background on their own; run it yourself to watch it.

Options:
  --log-file PATH   write diagnostics to PATH instead of stderr`,
  run: runBrokerCommand,
};

async function runBrokerCommand(args: string[], config: Config): Promise<number> {
  const logFile = parseLogFile(args);
  setLogPrefix("claude-peers broker");
  if (logFile) {
    // Make the directory if missing (owner-only), but never change one that exists.
    await Deno.mkdir(parentPath(logFile), { recursive: true, mode: 0o700 });
    logToFile(logFile);
  }
  // A stray rejection (a client gone mid-reply, out of file descriptors) is logged and survived:
  // the broker serves every session on the machine, and the log is where it must show.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    log(`unhandled rejection (survived): ${errorMessage(event.reason)}`);
  });
  globalThis.addEventListener("error", (event) => log(`uncaught error: ${event.message}`));
  // Loaded per mode: the broker never loads the MCP SDK, the MCP server never the broker.
  const { runBroker } = await import("../broker/mod.ts");
  try {
    await runBroker(config);
  } catch (error) {
    log(errorMessage(error));
    throw error;
  }
  return 0;
}

/**
 * The one option, `--log-file PATH` or `--log-file=PATH`, read without node:util: the broker
 * runs all day, and loading Node's polyfills for one option would cost it memory (issue 11).
 */
export function parseLogFile(args: string[]): string | undefined {
  let logFile: string | undefined;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === "--log-file") {
      const value = args[++index];
      if (value === undefined || value.startsWith("-")) {
        throw new UsageError("option --log-file needs a path");
      }
      logFile = value;
    } else if (arg.startsWith("--log-file=")) {
      logFile = arg.slice("--log-file=".length);
      if (logFile === "") throw new UsageError("option --log-file needs a path");
    } else {
      throw new UsageError(
        arg.startsWith("-") ? `unknown option "${arg}"` : `unexpected argument "${arg}"`,
      );
    }
  }
  return logFile;
}
