/**
 * `claude-peers peers`: every registered peer, as a table or as JSON.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Config } from "../broker/config.ts";
import { BrokerClient } from "../broker/client.ts";
import { ensureBroker } from "../broker/spawn.ts";
import { peersTable } from "./format.ts";
import { terminalSafeJson } from "./terminal_safe.ts";
import { print } from "./fail.ts";
import type { Command } from "./command.ts";

/** `claude-peers peers [--json]`. */
export const peersCommand: Command = {
  name: "peers",
  summary: "list the peers (--json for JSON)",
  help: `Usage: claude-peers peers [--json]

Lists the Claude Code sessions registered with the broker (starting it if needed).

Options:
  --json   print the peers as JSON`,
  run: runPeers,
};

async function runPeers(args: string[], config: Config): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: "boolean" } }, strict: true });
  await ensureBroker(config);
  const { peers } = await new BrokerClient(config).listPeers("machine");
  if (values.json) print(terminalSafeJson(peers));
  else if (peers.length === 0) print("No peers registered.");
  else print(peersTable(peers));
  return 0;
}
