/**
 * `claude-peers log`: who said what to whom. The broker's history (delivered and expired
 * messages) and the messages still queued, oldest first, filtered by peer, thread and age;
 * `--json` writes NDJSON, `--clear` deletes the history.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Config } from "../broker/config.ts";
import { BrokerClient } from "../broker/client.ts";
import { ensureBroker } from "../broker/spawn.ts";
import { MAX_LOG_ENTRIES } from "../broker/protocol.ts";
import { print, printError, UsageError } from "./fail.ts";
import { jsonLine, logLine, palette } from "./observe_format.ts";
import type { Command } from "./command.ts";

/** `claude-peers log [--peer P] [--thread T] [--since D] [--limit N] [--full] [--json] | --clear`. */
export const logCommand: Command = {
  name: "log",
  summary: "who said what to whom: the message history (--clear deletes it)",
  help: `Usage: claude-peers log [--peer NAME|ID] [--thread ID] [--since DURATION] [--limit N]
                        [--full] [--json]
       claude-peers log --clear

Shows the messages between sessions, oldest first: those still queued, and the history of
those delivered or expired (kept CLAUDE_PEERS_HISTORY_DAYS, default 7, and at most
CLAUDE_PEERS_HISTORY_MAX, default 10000; 0 keeps none). Each line says who sent it to whom,
when, and what became of it: queued, delivered (when, and via channel, hook or tool_result)
or expired.

Options:
  --peer NAME|ID     only messages from or to this peer
  --thread ID        only this thread
  --since DURATION   only messages sent in the last DURATION: 30s, 10m, 2h, 7d
  --limit N          the newest N messages (default 100, at most ${MAX_LOG_ENTRIES})
  --full             the whole text of each message, not only its first line
  --json             one JSON object per message (NDJSON), with the whole text
  --clear            delete the history, and say how many messages it held`,
  run: runLog,
};

async function runLog(args: string[], config: Config): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      peer: { type: "string" },
      thread: { type: "string" },
      since: { type: "string" },
      limit: { type: "string" },
      full: { type: "boolean" },
      json: { type: "boolean" },
      clear: { type: "boolean" },
    },
    strict: true,
  });
  if (values.clear) {
    const others = Object.keys(values).filter((name) => name !== "clear");
    if (others.length > 0) {
      throw new UsageError(`--clear takes no other option (got --${others[0]})`);
    }
    await ensureBroker(config);
    const { removed } = await new BrokerClient(config).clearLog();
    print(`Deleted ${removed} ${removed === 1 ? "message" : "messages"} from the history.`);
    return 0;
  }
  for (const [name, value] of [["peer", values.peer], ["thread", values.thread]] as const) {
    if (value !== undefined && (value === "" || value.length > 64)) {
      throw new UsageError(`--${name} takes 1-64 characters`);
    }
  }
  const limit = values.limit === undefined ? 100 : parseLimit(values.limit);
  const since = values.since === undefined ? undefined : Date.now() - parseDuration(values.since);
  await ensureBroker(config);
  const { entries, more } = await new BrokerClient(config).log({
    limit,
    ...(values.peer === undefined ? {} : { peer: values.peer }),
    ...(values.thread === undefined ? {} : { thread: values.thread }),
    ...(since === undefined ? {} : { since: new Date(since).toISOString() }),
  });
  if (values.json) {
    for (const entry of entries) print(jsonLine(entry));
    return 0;
  }
  if (entries.length === 0) {
    print("No messages.");
    return 0;
  }
  const colours = palette(Deno.stdout.isTerminal() && !config.noColor);
  for (const entry of entries) print(logLine(entry, colours, values.full === true));
  if (more) printError(`(older messages left out: use --limit or --since)`);
  return 0;
}

function parseLimit(raw: string): number {
  const value = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= 1 && value <= MAX_LOG_ENTRIES)) {
    throw new UsageError(`--limit "${raw}" is not a number from 1 to ${MAX_LOG_ENTRIES}`);
  }
  return value;
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30s", "10m", "2h", "7d" in ms. */
export function parseDuration(raw: string): number {
  const match = raw.match(/^(\d{1,6})([smhd])$/);
  if (!match) {
    throw new UsageError(`--since "${raw}" is not a duration like 30s, 10m, 2h or 7d`);
  }
  return Number(match[1]) * UNITS[match[2]!]!;
}
