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
import { type BroadcastScope, PeerId, PeerName } from "../broker/protocol.ts";
import { terminalSafe } from "./terminal_safe.ts";
import type { Command } from "./command.ts";

/** `claude-peers send [--from NAME] <peer> [message...]`. */
export const sendCommand: Command = {
  name: "send",
  summary: "send a message: send <peer-id | name | @machine> [message...]",
  help: `Usage: claude-peers send [--from NAME] <peer> [message...]

Sends a message to a session, given by peer id or name (a name reaches the session that
holds it now), or to every live session with @machine (the CLI has no repository or
directory of its own, so @repo and @directory are for sessions). With no message or "-",
the message is read from stdin. A session answers a CLI message in its own conversation;
the CLI has no inbox.

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
  const [peer, ...words] = positionals;
  if (!peer) throw new UsageError("send needs a peer id, a name or @machine");
  checkAddress(peer);
  if (values.from !== undefined && PeerId.safeParse(values.from).success) {
    throw new UsageError(`--from "${values.from}" looks like a peer id: pick a name that does not`);
  }
  const text = words.length === 0 || (words.length === 1 && words[0] === "-")
    ? await readStdin()
    : words.join(" ");
  if (text.trim() === "") throw new UsageError("the message is empty");
  await ensureBroker(config);
  const reply = await new BrokerClient(config).send({
    to_id: peer,
    text,
    ...(values.from === undefined ? {} : { from_name: values.from }),
  });
  const state = (connected: boolean) => connected ? "delivered to a connected session" : "queued";
  if (reply.broadcast === null) {
    print(
      `Sent message ${reply.message_id} to ${reply.to_name} (${reply.to_id}, ${
        state(reply.recipient_connected)
      })`,
    );
    return 0;
  }
  print(`Broadcast to ${reply.broadcast}: ${reply.copies.length} sessions`);
  for (const copy of reply.copies) {
    print(
      `  ${copy.to_name} (${copy.to_id}): ${copy.message_id}, ${state(copy.recipient_connected)}`,
    );
  }
  if (reply.skipped.length > 0) print(`  skipped (inbox full): ${reply.skipped.join(", ")}`);
  return 0;
}

const SESSION_SCOPES: readonly string[] = ["@repo", "@directory"] satisfies BroadcastScope[];

/** Refuses, as a usage error, what can be neither a peer id, a name nor @machine. */
function checkAddress(peer: string): void {
  const lowered = peer.toLowerCase();
  if (SESSION_SCOPES.includes(lowered)) {
    throw new UsageError(
      `the CLI has no repository or directory of its own: use @machine, or send to a name`,
    );
  }
  if (lowered === "@machine" || PeerId.safeParse(peer).success) return;
  if (!PeerName.safeParse(peer).success) {
    throw new UsageError(
      `"${
        terminalSafe(peer)
      }" is not a peer id (8 lowercase letters or digits), a name or @machine`,
    );
  }
}

async function readStdin(): Promise<string> {
  return (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
}
