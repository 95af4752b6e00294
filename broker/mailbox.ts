/**
 * Mailbox: the messages. Sending (idempotent, group-committed per recipient), the inbox, its
 * acknowledgement (which moves a message to the history and marks it delivered in the sender's
 * outbox), the outbox and the watch signal that wakes an inbox stream. It asks the registry
 * only whether a recipient is live; it never changes a peer.
 *
 * Every record carries its own `expires_at` (Deno KV's `expireIn` is lazy).
 *
 * @module
 */
import {
  type DeliveryState,
  type Message,
  OUTBOX_RECENT,
  type PeerId,
  type Presenter,
  type ShownVia,
} from "./protocol.ts";
import {
  enqueuedCounter,
  inboxAfter,
  inboxKey,
  inboxPrefix,
  outboxKey,
  outboxPrefix,
  removedCounter,
} from "./kv_keys.ts";
import {
  getMany,
  type HistoryRecord,
  messageOf,
  type OutboxRecord,
  outboxState,
  type Sender,
  type StoredMessage,
  viaOf,
} from "./mail_records.ts";
import { SendCommitter } from "./send_commit.ts";
import { History } from "./history.ts";
import { clearLog, type LogQuery, readLog } from "./mail_log.ts";
import type { LogEntry } from "./protocol.ts";

export type { Sender };

/** A message the caller sent, with what became of it. */
export interface SentRecord {
  message_id: string;
  to_id: PeerId;
  sent_at: string;
  state: DeliveryState;
  /** When it was shown or dropped, in ms; null while queued. */
  state_at: number | null;
  via: ShownVia | null;
}

/** A message that was just shown to its recipient. */
export interface Delivered {
  message_id: string;
  from_id: string;
  to_id: PeerId;
  via: ShownVia;
  at: number;
}

/** How acknowledged messages were shown. */
export interface AckDetails {
  /** How they were shown. @default what their claim says, else "channel" */
  via?: ShownVia;
  /** @default Date.now() */
  now?: number;
  /** The recipient's name, kept in the history. */
  toName?: string;
}

/** Limits and lifetimes the mailbox enforces, and what it asks of the registry. */
export interface MailboxOptions {
  /** How long an unacknowledged message is kept, in ms. */
  retentionMs: number;
  /** Queued messages one recipient may have. */
  maxQueued: number;
  /** Whether `id` is a live peer that may receive messages. */
  isLive: (id: PeerId, now: number) => Promise<boolean>;
  /** When the session of a peer that is not live ended, or null when it never existed. */
  endedAt: (id: PeerId, now: number) => Promise<number | null>;
  /** How long a delivered message stays in the history, in ms; 0 keeps none. @default 0 */
  historyMs?: number;
  /** Most messages the history keeps; 0 keeps none. @default 0 */
  historyMax?: number;
  /** Messages were shown to their recipient (after the commit). @default nothing */
  onDelivered?: (delivered: Delivered[]) => void;
}

const ACK_CHUNK = 40;
/** Message text moved to the history in one transaction, inside Deno KV's 800 KiB. */
const ACK_BYTES = 256 * 1024;

/** The messages of every peer in one Deno KV database. */
export class Mailbox {
  #kv: Deno.Kv;
  #sends: SendCommitter;
  #retentionMs: number;
  #onDelivered: (delivered: Delivered[]) => void;
  /** Delivered and expired messages. */
  readonly history: History;

  constructor(kv: Deno.Kv, options: MailboxOptions) {
    this.#kv = kv;
    this.#retentionMs = options.retentionMs;
    this.#onDelivered = options.onDelivered ?? (() => {});
    this.history = new History(kv, {
      historyMs: options.historyMs ?? 0,
      historyMax: options.historyMax ?? 0,
    });
    this.#sends = new SendCommitter(kv, {
      ...options,
      queuedCount: (toId) => this.queuedCount(toId),
    });
  }

  /**
   * Continues the message order of earlier brokers on this database, whatever the clock says,
   * and reads the history's count.
   */
  async restoreOrder(): Promise<void> {
    await this.#sends.restoreOrder();
    await this.history.restore();
  }

  /**
   * Queues a message for a live peer; it is durable when this resolves. A repeated
   * `idempotencyKey` from the same sender returns the first message instead of a copy.
   */
  enqueue(
    sender: Sender,
    toId: PeerId,
    text: string,
    now: number,
    idempotencyKey?: string,
  ): Promise<Message> {
    return this.#sends.enqueue({ sender, text, now, idempotencyKey }, toId);
  }

  /**
   * The recipient's unexpired queued messages, oldest first; with `afterId`, only those
   * queued after that one. Sends to one recipient commit one batch at a time in id order, so
   * a reader that has seen `afterId` has seen every message before it.
   */
  async inbox(toId: PeerId, now: number, afterId?: string): Promise<Message[]> {
    const messages: Message[] = [];
    const expired: string[] = [];
    const selector: Deno.KvListSelector = afterId === undefined
      ? { prefix: inboxPrefix(toId) }
      : { prefix: inboxPrefix(toId), start: inboxAfter(toId, afterId) };
    for await (const entry of this.#kv.list<StoredMessage>(selector)) {
      if (entry.value.expires_at <= now) expired.push(entry.value.id);
      else messages.push(messageOf(entry.value));
    }
    if (expired.length > 0) await this.#remove(toId, expired, { now }, "expired");
    return messages;
  }

  /**
   * Claims the recipient's unclaimed messages for one presenter, oldest first, for `claimMs`:
   * two presenters racing never both get a message, and one that dies without acknowledging
   * gives it back when the claim runs out. `retryAt` is when the earliest claim still held by
   * someone else runs out, or null.
   */
  async claim(
    toId: PeerId,
    now: number,
    claimMs: number,
    presenter?: Presenter,
  ): Promise<{ messages: Message[]; retryAt: number | null }> {
    const claimed: Message[] = [];
    let retryAt: number | null = null;
    const free: Deno.KvEntry<StoredMessage>[] = [];
    for await (const entry of this.#kv.list<StoredMessage>({ prefix: inboxPrefix(toId) })) {
      const { expires_at, claimed_until } = entry.value;
      if (expires_at <= now) continue;
      if (claimed_until !== undefined && claimed_until > now) {
        retryAt = Math.min(retryAt ?? Infinity, claimed_until);
      } else {
        free.push(entry);
      }
    }
    for (let start = 0; start < free.length; start += ACK_CHUNK) {
      const chunk = free.slice(start, start + ACK_CHUNK);
      const op = this.#kv.atomic();
      for (const entry of chunk) {
        const record = claimedRecord(entry.value, now + claimMs, presenter);
        op.check(entry).set(entry.key, record, {
          expireIn: Math.max(1, entry.value.expires_at - now),
        });
      }
      // A conflict means another presenter claimed (or acknowledged) some of these meanwhile.
      if ((await op.commit()).ok) claimed.push(...chunk.map((entry) => messageOf(entry.value)));
      else claimed.push(...await this.#claimEach(chunk, now, claimMs, presenter));
    }
    return { messages: claimed, retryAt };
  }

  async #claimEach(
    entries: Deno.KvEntry<StoredMessage>[],
    now: number,
    claimMs: number,
    presenter: Presenter | undefined,
  ): Promise<Message[]> {
    const claimed: Message[] = [];
    for (const { key } of entries) {
      const entry = await this.#kv.get<StoredMessage>(key);
      const stored = entry.value;
      if (!stored || (stored.claimed_until ?? 0) > now) continue;
      const record = claimedRecord(stored, now + claimMs, presenter);
      const expireIn = Math.max(1, stored.expires_at - now);
      if ((await this.#kv.atomic().check(entry).set(key, record, { expireIn }).commit()).ok) {
        claimed.push(messageOf(stored));
      }
    }
    return claimed;
  }

  /**
   * Moves acknowledged messages of `toId` from its inbox to the history (when kept) and marks
   * them delivered in their senders' outboxes; returns how many were still queued.
   */
  ack(toId: PeerId, ids: string[], details: AckDetails = {}): Promise<number> {
    return this.#remove(toId, ids, details, "delivered");
  }

  async #remove(
    toId: PeerId,
    ids: string[],
    details: AckDetails,
    state: HistoryRecord["state"],
  ): Promise<number> {
    const now = details.now ?? Date.now();
    let removed = 0;
    for (let start = 0; start < ids.length; start += ACK_CHUNK) {
      const chunk = [...new Set(ids.slice(start, start + ACK_CHUNK))];
      const done = await this.#removeChunk(toId, chunk, { ...details, now }, state);
      removed += done.removed;
      if (done.delivered.length > 0) this.#onDelivered(done.delivered);
    }
    return removed;
  }

  async #removeChunk(
    toId: PeerId,
    ids: string[],
    details: AckDetails & { now: number },
    state: HistoryRecord["state"],
  ): Promise<{ removed: number; delivered: Delivered[] }> {
    const done: Delivered[] = [];
    let removed = 0;
    let pending = ids;
    while (pending.length > 0) {
      const entries = await getMany<StoredMessage>(
        this.#kv,
        pending.map((id) => inboxKey(toId, id)),
      );
      const present = byteLimited(entries.filter((entry) => entry.value !== null));
      if (present.length === 0) break;
      const outboxKeys = present.map(({ value }) => outboxKey(value!.from_id, value!.id));
      const outboxes = await getMany<OutboxRecord>(this.#kv, outboxKeys);
      const op = this.#kv.atomic();
      const moved: HistoryRecord[] = [];
      const delivered: Delivered[] = [];
      present.forEach((entry, index) => {
        const message = entry.value!;
        const via = state === "expired" ? null : details.via ?? viaOf(message.claimed_by) ??
          "channel";
        const at = state === "expired" ? message.expires_at : details.now;
        op.check(entry).delete(entry.key);
        const outbox = outboxes[index]!;
        if (via !== null && outbox.value) {
          const record: OutboxRecord = {
            ...outbox.value,
            state: "delivered",
            state_at: at,
            via,
            expires_at: at + this.#retentionMs,
          };
          op.set(outbox.key, record, { expireIn: this.#retentionMs });
        }
        const { claimed_until: _until, claimed_by: _by, ...kept } = message;
        moved.push({
          ...kept,
          state,
          state_at: at,
          via,
          expires_at: this.history.expiresAt(at),
          ...(details.toName === undefined ? {} : { to_name: details.toName }),
        });
        if (via !== null) {
          delivered.push({
            message_id: message.id,
            from_id: message.from_id,
            to_id: toId,
            via,
            at,
          });
        }
      });
      this.history.write(op, moved);
      op.sum(removedCounter(toId), BigInt(present.length));
      // A conflict means a presenter claimed or acknowledged some of these meanwhile: read again.
      if (!(await op.commit()).ok) continue;
      await this.history.added(this.history.enabled ? moved.length : 0, details.now);
      done.push(...delivered);
      removed += present.length;
      const handled = new Set(present.map((entry) => entry.value!.id));
      pending = pending.filter((id) => !handled.has(id));
    }
    return { removed, delivered: done };
  }

  /** How many messages are queued for `toId`. */
  async queuedCount(toId: PeerId): Promise<number> {
    const [enqueued, removed] = await this.#kv.getMany<[Deno.KvU64, Deno.KvU64]>([
      enqueuedCounter(toId),
      removedCounter(toId),
    ]);
    return Number((enqueued.value?.value ?? 0n) - (removed.value?.value ?? 0n));
  }

  /** The `limit` messages `fromId` sent last, newest first, with what became of each. */
  async outbox(fromId: string, now: number, limit = OUTBOX_RECENT): Promise<SentRecord[]> {
    const sent: SentRecord[] = [];
    const selector = { prefix: outboxPrefix(fromId) };
    for await (const entry of this.#kv.list<OutboxRecord>(selector, { reverse: true })) {
      if (entry.value.expires_at <= now) continue;
      const state = outboxState(entry.value, now);
      sent.push({
        message_id: String(entry.key[2]),
        to_id: entry.value.to_id,
        sent_at: entry.value.sent_at,
        state,
        state_at: state === "delivered"
          ? entry.value.state_at ?? null
          : state === "expired"
          ? entry.value.message_expires_at ?? entry.value.expires_at
          : null,
        via: state === "delivered" ? entry.value.via ?? null : null,
      });
      if (sent.length >= limit) break;
    }
    return sent;
  }

  /** The newest messages matching `query` (history and queued), oldest first. */
  log(query: LogQuery, now: number): Promise<{ entries: LogEntry[]; more: boolean }> {
    return readLog(this.#kv, this.history, query, now);
  }

  /** Deletes the history; resolves to how many messages it held. */
  clearLog(): Promise<number> {
    return clearLog(this.#kv, this.history);
  }

  /**
   * A stream that yields once now and again after each new message for `toId`.
   * `kv.watch` coalesces rapid writes, so a signal means "read the inbox", never "one message".
   */
  watchInbox(toId: PeerId): ReadableStream<unknown> {
    return this.#kv.watch([enqueuedCounter(toId)]);
  }
}

function claimedRecord(
  stored: StoredMessage,
  until: number,
  presenter: Presenter | undefined,
): StoredMessage {
  const record: StoredMessage = { ...stored, claimed_until: until };
  if (presenter) record.claimed_by = presenter;
  return record;
}

/** The leading entries whose texts fit one transaction (at least one). */
function byteLimited(
  entries: Deno.KvEntryMaybe<StoredMessage>[],
): Deno.KvEntryMaybe<StoredMessage>[] {
  let bytes = 0;
  let count = 0;
  while (count < entries.length && (count === 0 || bytes < ACK_BYTES)) {
    bytes += entries[count]!.value!.text_utf8?.byteLength ?? 0;
    count++;
  }
  return entries.slice(0, count);
}
