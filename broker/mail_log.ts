/**
 * The log a person reads: the history (delivered and expired messages) and the messages still
 * queued, filtered by peer, thread and time; and deleting it. Reads only; the mailbox and the
 * history own the writes.
 *
 * @module
 */
import type { LogEntry } from "./protocol.ts";
import { INBOXES, OUTBOXES } from "./kv_keys.ts";
import type { History } from "./history.ts";
import {
  type HistoryRecord,
  messageOf,
  type OutboxRecord,
  type StoredMessage,
} from "./mail_records.ts";

/** What to look for. */
export interface LogQuery {
  /** Sender or recipient, by id or name. */
  peer?: string | undefined;
  /** The thread id (a message without one is its own thread). */
  thread?: string | undefined;
  /** Sent at or after this time, in ms. */
  since?: number | undefined;
  /** Most entries returned: the newest matches. */
  limit: number;
  /** The name of a live peer, for entries that do not carry their recipient's. */
  nameOf?: (peerId: string) => string | undefined;
}

/** The newest `query.limit` matching messages, oldest first, and whether there were more. */
export async function readLog(
  kv: Deno.Kv,
  history: History,
  query: LogQuery,
  now: number,
): Promise<{ entries: LogEntry[]; more: boolean }> {
  const matches = (entry: LogEntry) => matchesQuery(named(entry, query), query);
  const found: LogEntry[] = [];
  for await (const entry of kv.list<StoredMessage>({ prefix: INBOXES })) {
    const queued = queuedEntry(entry.value, now);
    if (matches(queued)) found.push(named(queued, query));
  }
  const delivered = await history.newest(
    (record) => matches(historyEntry(record)),
    query.limit,
    now,
  );
  found.push(...delivered.map((record) => named(historyEntry(record), query)));
  found.sort((a, b) => a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
  const more = found.length > query.limit;
  return { entries: found.slice(0, query.limit).reverse(), more };
}

/**
 * Deletes the history and what senders' outboxes say about delivered messages; messages still
 * queued stay (they are not history yet). Resolves to how many history records went.
 */
export async function clearLog(kv: Deno.Kv, history: History): Promise<number> {
  const removed = await history.clear();
  let op = kv.atomic();
  let mutations = 0;
  for await (const entry of kv.list<OutboxRecord>({ prefix: OUTBOXES })) {
    if (entry.value.state !== "delivered") continue;
    op.delete(entry.key);
    if (++mutations === 500) {
      await op.commit();
      op = kv.atomic();
      mutations = 0;
    }
  }
  if (mutations > 0) await op.commit();
  return removed;
}

function queuedEntry(stored: StoredMessage, now: number): LogEntry {
  const expired = stored.expires_at <= now;
  return {
    ...messageOf(stored),
    state: expired ? "expired" : "queued",
    state_at: expired ? new Date(stored.expires_at).toISOString() : null,
    via: null,
  };
}

/** The log entry of a history record. */
export function historyEntry(record: HistoryRecord): LogEntry {
  const { state, state_at, via, to_name, ...stored } = record;
  return {
    ...messageOf({ ...stored }),
    ...(to_name === undefined ? {} : { to_name }),
    state,
    state_at: new Date(state_at).toISOString(),
    via,
  };
}

/** The thread a message belongs to: its `thread_id` when it has one, else its own id. */
export function threadOf(entry: LogEntry): string {
  const thread = (entry as { thread_id?: unknown }).thread_id;
  return typeof thread === "string" && thread !== "" ? thread : entry.id;
}

/** The sender's name, when the message carries one. */
export function senderName(entry: LogEntry): string | undefined {
  const name = (entry as { from_name?: unknown }).from_name;
  return typeof name === "string" && name !== "" ? name : undefined;
}

function named(entry: LogEntry, query: LogQuery): LogEntry {
  if (entry.to_name !== undefined || !query.nameOf) return entry;
  const name = query.nameOf(entry.to_id);
  return name === undefined ? entry : { ...entry, to_name: name };
}

function matchesQuery(entry: LogEntry, query: LogQuery): boolean {
  if (query.since !== undefined && Date.parse(entry.sent_at) < query.since) return false;
  if (query.thread !== undefined && threadOf(entry) !== query.thread) return false;
  if (query.peer !== undefined) {
    const who = [entry.from_id, entry.to_id, senderName(entry), entry.to_name];
    if (!who.includes(query.peer)) return false;
  }
  return true;
}
