/**
 * `claude-peers send`: inject a message into a session, from an argument or stdin.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Config } from "../broker/config.ts";
import { BrokerClient } from "../broker/client.ts";
import { ensureBroker } from "../broker/spawn.ts";
import { print, UsageError } from "./fail.ts";
import { PeerId } from "../broker/protocol.ts";
import { terminalSafe } from "./format.ts";
import type { Command } from "./command.ts";

/** `claude-peers send [--from NAME] <peer-id> [message...]`. */
export const sendCommand: Command = {
  name: "send",
  summary: "send a message to a peer: send <peer-id> [message...]",
  help: `Usage: claude-peers send [--from NAME] <peer-id> [message...]

Sends a message to a session. With no message or "-", the message is read from stdin.

Options:
  --from NAME   sender name shown to the recipient (default: cli)`,
  run: runSend,
};

async function runSend(args: string[], config: Config): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { from: { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  const [peerId, ...words] = positionals;
  if (!peerId) throw new UsageError("send needs a peer id");
  if (!PeerId.safeParse(peerId).success) {
    throw new UsageError(
      `"${terminalSafe(peerId)}" is not a peer id (8 lowercase letters or digits)`,
    );
  }
  if (values.from !== undefined && PeerId.safeParse(values.from).success) {
    throw new UsageError(`--from "${values.from}" looks like a peer id: pick a name that does not`);
  }
  const text = words.length === 0 || (words.length === 1 && words[0] === "-")
    ? await readStdin()
    : words.join(" ");
  if (text.trim() === "") throw new UsageError("the message is empty");
  await ensureBroker(config);
  const reply = await new BrokerClient(config).send({
    to_id: peerId,
    text,
    ...(values.from === undefined ? {} : { from_name: values.from }),
  });
  const state = reply.recipient_connected ? "delivered to a connected session" : "queued";
  print(`Sent message ${reply.message_id} to ${peerId} (${state})`);
  return 0;
}

async function readStdin(): Promise<string> {
  return (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
}
