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
  // Matched on the stored fields alone: no text is decoded for a message that is left out.
  const matches = (head: MessageHead) => matchesQuery(head, toName(head, query), query);
  const found: LogEntry[] = [];
  for await (const entry of kv.list<StoredMessage>({ prefix: INBOXES })) {
    if (matches(entry.value)) found.push(named(queuedEntry(entry.value, now), query));
  }
  const delivered = await history.newest(matches, query.limit, now);
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

/** The fields of a message (stored, in the history or in the log) that the filters read. */
interface MessageHead {
  id: string;
  from_id: string;
  to_id: string;
  sent_at: string;
  to_name?: string | undefined;
}

/** The thread a message belongs to: its `thread_id` when it has one, else its own id. */
export function threadOf(message: MessageHead): string {
  const thread = (message as { thread_id?: unknown }).thread_id;
  return typeof thread === "string" && thread !== "" ? thread : message.id;
}

/** The sender's name, when the message carries one. */
export function senderName(message: MessageHead): string | undefined {
  const name = (message as { from_name?: unknown }).from_name;
  return typeof name === "string" && name !== "" ? name : undefined;
}

/** The recipient's name: as recorded, else the live peer's. */
function toName(message: MessageHead, query: LogQuery): string | undefined {
  return message.to_name ?? query.nameOf?.(message.to_id);
}

function named(entry: LogEntry, query: LogQuery): LogEntry {
  const name = toName(entry, query);
  return name === undefined || entry.to_name !== undefined ? entry : { ...entry, to_name: name };
}

function matchesQuery(message: MessageHead, name: string | undefined, query: LogQuery): boolean {
  if (query.since !== undefined && Date.parse(message.sent_at) < query.since) return false;
  if (query.thread !== undefined && threadOf(message) !== query.thread) return false;
  if (query.peer !== undefined) {
    const who = [message.from_id, message.to_id, senderName(message), name];
    if (!who.includes(query.peer)) return false;
  }
  return true;
}
