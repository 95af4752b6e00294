/**
 * `claude-peers broker`: run the broker in the foreground, optionally logging to a file.
 * The broker's code is imported only when this command runs, so no other mode loads it.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname } from "node:path";
import type { Config } from "../broker/config.ts";
import { errorMessage, log, logToFile, setLogPrefix } from "../broker/log.ts";
import type { Command } from "./command.ts";

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
  const { values } = parseArgs({ args, options: { "log-file": { type: "string" } }, strict: true });
  setLogPrefix("claude-peers broker");
  if (values["log-file"]) {
    // Make the directory if missing (owner-only), but never change one that exists.
    await Deno.mkdir(dirname(values["log-file"]), { recursive: true, mode: 0o700 });
    logToFile(values["log-file"]);
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
