/**
 * `claude-peers name`: a person gives a live session a name others can address it by.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Config } from "../broker/config.ts";
import { BrokerClient } from "../broker/client.ts";
import { ensureBroker } from "../broker/spawn.ts";
import { PeerName } from "../broker/protocol.ts";
import { print, UsageError } from "./fail.ts";
import { terminalSafe } from "./terminal_safe.ts";
import type { Command } from "./command.ts";

/** `claude-peers name <peer> <name>`. */
export const nameCommand: Command = {
  name: "name",
  summary: "name a session: name <peer> <name>",
  help: `Usage: claude-peers name <peer> <name>

Gives a live session (by peer id or current name) a new name. Sessions and the CLI can
then send to it by that name. A name is 1-32 of a-z 0-9 . _ - (starting with a letter or
digit, case ignored), never 8 letters or digits like a peer id; it must not be another live
session's. The session keeps it across restarts of its MCP server while nobody else takes it.`,
  run: runName,
};

async function runName(args: string[], config: Config): Promise<number> {
  const { positionals } = parseArgs({ args, options: {}, allowPositionals: true, strict: true });
  const [peer, name, ...rest] = positionals;
  if (!peer || !name) throw new UsageError("name needs a peer and a name");
  if (rest.length > 0) throw new UsageError("name takes one peer and one name");
  const parsed = PeerName.safeParse(name);
  if (!parsed.success) {
    throw new UsageError(
      `"${terminalSafe(name)}" is not a valid name: ${parsed.error.issues[0]!.message}`,
    );
  }
  await ensureBroker(config);
  const reply = await new BrokerClient(config).setName({ peer, name: parsed.data });
  print(`Peer ${reply.id} is now named ${reply.name} (was ${terminalSafe(reply.previous)})`);
  return 0;
}
