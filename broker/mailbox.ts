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
  type LogEntry,
  type Message,
  OUTBOX_RECENT,
  type PeerId,
  type Presenter,
} from "./protocol.ts";
import { inboxAfter, inboxKey, inboxPrefix, threadKey } from "./kv_keys.ts";
import {
  getMany,
  messageOf,
  type Sender,
  type StoredMessage,
  type ThreadPlace,
  type ThreadRecord,
} from "./mail_records.ts";
import { type BroadcastOutcome, SendCommitter } from "./send_commit.ts";
import { AckCommitter, type AckDetails, type Delivered, type SentRecord } from "./ack_commit.ts";
import { History } from "./history.ts";
import { clearLog, type LogQuery, readLog } from "./mail_log.ts";
import { QueueCounts } from "./queue_counts.ts";
import { InboxSignals, type InboxWatch } from "./inbox_signals.ts";

export type {
  AckDetails,
  BroadcastOutcome,
  Delivered,
  Sender,
  SentRecord,
  ThreadPlace,
  ThreadRecord,
};

/** A message to one peer, in no thread yet. */
const NEW_THREAD: ThreadPlace = { reply_to: null, broadcast: null };

/** Messages claimed in one transaction. */
const CLAIM_CHUNK = 40;

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
  /** Whether `id` reads its queue as it fills: a send finding it full waits a while for room. */
  isReading?: (id: PeerId) => boolean;
  /** How long such a send waits, in ms. @default 2000 */
  roomWaitMs?: number;
  /** How long a delivered message stays in the history, in ms; 0 keeps none. @default 0 */
  historyMs?: number;
  /** Most messages the history keeps; 0 keeps none. @default 0 */
  historyMax?: number;
  /** Messages were shown to their recipient (after the commit). @default nothing */
  onDelivered?: (delivered: Delivered[]) => void;
}

/** Which part of an inbox {@link Mailbox.inboxPage} reads. */
export interface InboxPageOptions {
  /** Only records queued after this message. @default from the first */
  afterId?: string;
  /** At most this many records. @default all of them */
  limit?: number;
}

/** One page of an inbox. */
export interface InboxPage {
  messages: Message[];
  /** The id of the last record read, expired or not; `afterId` when none was. */
  cursor: string | undefined;
  /** Whether the page was full: more records may follow `cursor`. */
  more: boolean;
}

/** Messages one claim takes at most. */
export const CLAIM_MAX_MESSAGES = 100;
/** UTF-8 bytes of text one claim takes at most (one message more when it alone is larger). */
export const CLAIM_MAX_BYTES = 256 * 1024;
/** Stored text one claim transaction rewrites: Deno KV refuses a commit over 800 KiB. */
const CLAIM_CHUNK_BYTES = 512 * 1024;

/** `entries` in groups of at most CLAIM_CHUNK records and CLAIM_CHUNK_BYTES of text. */
function commitChunks(entries: Deno.KvEntry<StoredMessage>[]): Deno.KvEntry<StoredMessage>[][] {
  const chunks: Deno.KvEntry<StoredMessage>[][] = [];
  let chunk: Deno.KvEntry<StoredMessage>[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entry.value.text_utf8?.byteLength ?? 0;
    if (chunk.length === CLAIM_CHUNK || (chunk.length > 0 && bytes + size > CLAIM_CHUNK_BYTES)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(entry);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** The messages of every peer in one Deno KV database. */
export class Mailbox {
  #kv: Deno.Kv;
  #sends: SendCommitter;
  #acks: AckCommitter;
  #counts: QueueCounts;
  #signals: InboxSignals;
  #retentionMs: number;
  /** Delivered and expired messages. */
  readonly history: History;

  constructor(kv: Deno.Kv, options: MailboxOptions) {
    this.#kv = kv;
    this.history = new History(kv, {
      historyMs: options.historyMs ?? 0,
      historyMax: options.historyMax ?? 0,
    });
    this.#counts = new QueueCounts(kv);
    this.#signals = new InboxSignals(kv);
    this.#acks = new AckCommitter(kv, this.history, {
      retentionMs: options.retentionMs,
      onDelivered: options.onDelivered ?? (() => {}),
      counts: this.#counts,
    });
    this.#sends = new SendCommitter(kv, {
      ...options,
      counts: this.#counts,
      onQueued: (toId, messages, versionstamp) =>
        this.#signals.notify(toId, messages, versionstamp),
    });
    this.#retentionMs = options.retentionMs;
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
    place: ThreadPlace = NEW_THREAD,
  ): Promise<Message> {
    return this.#sends.enqueue({ sender, text, now, idempotencyKey, place }, toId);
  }

  /**
   * Queues a copy for each of `recipients` (live peers) in one transaction, every copy its own
   * message in one thread; a repeated `idempotencyKey` returns the first broadcast's copies.
   */
  broadcast(
    sender: Sender,
    recipients: PeerId[],
    text: string,
    now: number,
    options: { idempotencyKey: string | undefined; place: ThreadPlace },
  ): Promise<BroadcastOutcome> {
    const { idempotencyKey, place } = options;
    return this.#sends.broadcast({ sender, text, now, idempotencyKey, place }, recipients);
  }

  /** Who sent message `id` and in which thread, while it is within the retention; else null. */
  async threadOf(id: string, now: number): Promise<ThreadRecord | null> {
    if (id.length > 64) return null;
    const entry = await this.#kv.get<ThreadRecord>(threadKey(id));
    return entry.value && entry.value.expires_at > now ? entry.value : null;
  }

  /**
   * The recipient's unexpired queued messages, oldest first; with `afterId`, only those
   * queued after that one. Sends to one recipient commit one batch at a time in id order, so
   * a reader that has seen `afterId` has seen every message before it.
   */
  async inbox(toId: PeerId, now: number, afterId?: string): Promise<Message[]> {
    return (await this.inboxPage(toId, now, { ...(afterId ? { afterId } : {}) })).messages;
  }

  /**
   * At most `limit` queued records of the recipient after `afterId`, oldest first, with the
   * expired ones among them removed: the push stream reads its backlog this way, one page at a
   * time while its reader keeps up. `cursor` is the id of the last record read (expired or
   * not) and `more` whether the page was full, so more may follow.
   */
  async inboxPage(toId: PeerId, now: number, page: InboxPageOptions = {}): Promise<InboxPage> {
    const { afterId, limit } = page;
    const messages: Message[] = [];
    const expired: string[] = [];
    const selector: Deno.KvListSelector = afterId === undefined
      ? { prefix: inboxPrefix(toId) }
      : { prefix: inboxPrefix(toId), start: inboxAfter(toId, afterId) };
    let cursor = afterId;
    let read = 0;
    const entries = this.#kv.list<StoredMessage>(selector, limit === undefined ? {} : { limit });
    for await (const entry of entries) {
      read++;
      cursor = entry.value.id;
      if (entry.value.expires_at <= now) expired.push(entry.value.id);
      else messages.push(messageOf(entry.value));
    }
    if (expired.length > 0) await this.#acks.remove(toId, expired, { now }, "expired");
    return { messages, cursor, more: limit !== undefined && read === limit };
  }

  /**
   * Claims the recipient's unclaimed messages for one presenter, oldest first, for `claimMs`:
   * two presenters racing never both get a message, and one that dies without acknowledging
   * gives it back when the claim runs out. One claim takes at most {@link CLAIM_MAX_MESSAGES}
   * messages and {@link CLAIM_MAX_BYTES} of text, so a full inbox of the largest messages
   * never becomes one huge reply; `more` says that unclaimed messages were left for the next
   * claim. `retryAt` is when the earliest claim still held by someone else runs out, or null.
   */
  async claim(
    toId: PeerId,
    now: number,
    claimMs: number,
    presenter?: Presenter,
  ): Promise<{ messages: Message[]; retryAt: number | null; more: boolean }> {
    const claimed: Message[] = [];
    let retryAt: number | null = null;
    let more = false;
    const free: Deno.KvEntry<StoredMessage>[] = [];
    let bytes = 0;
    for await (const entry of this.#kv.list<StoredMessage>({ prefix: inboxPrefix(toId) })) {
      const { expires_at, claimed_until } = entry.value;
      if (expires_at <= now) continue;
      if (claimed_until !== undefined && claimed_until > now) {
        retryAt = Math.min(retryAt ?? Infinity, claimed_until);
        continue;
      }
      const size = entry.value.text_utf8?.byteLength ?? 0;
      if (
        free.length === CLAIM_MAX_MESSAGES || (free.length > 0 && bytes + size > CLAIM_MAX_BYTES)
      ) {
        more = true;
        break;
      }
      free.push(entry);
      bytes += size;
    }
    for (const chunk of commitChunks(free)) {
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
    return { messages: claimed, retryAt, more };
  }

  /**
   * Gives back messages of `toId` that were claimed for a presenter that will not show them (a
   * waiting hook replaced or gone while its claim was in flight), so the next presenter need
   * not wait for the claim to run out. One acknowledged or expired meanwhile stays as it is.
   */
  async release(toId: PeerId, ids: readonly string[], now: number): Promise<void> {
    const entries = await getMany<StoredMessage>(this.#kv, ids.map((id) => inboxKey(toId, id)));
    const held = entries.filter((entry): entry is Deno.KvEntry<StoredMessage> =>
      entry.value !== null && entry.value.claimed_until !== undefined &&
      entry.value.expires_at > now
    );
    for (const chunk of commitChunks(held)) {
      const op = this.#kv.atomic();
      for (const entry of chunk) {
        const { claimed_until: _until, claimed_by: _by, ...free } = entry.value;
        op.check(entry).set(entry.key, free, { expireIn: entry.value.expires_at - now });
      }
      // A conflict: one of them was acknowledged meanwhile; the rest run out with their claim.
      await op.commit();
    }
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
    return this.#acks.remove(toId, ids, details, "delivered");
  }

  /** How many messages are queued for `toId`. */
  queuedCount(toId: PeerId): Promise<number> {
    return this.#counts.count(toId);
  }

  /** The `limit` messages `fromId` sent last, newest first, with what became of each. */
  outbox(fromId: string, now: number, limit = OUTBOX_RECENT): Promise<SentRecord[]> {
    return this.#acks.outbox(fromId, now, limit);
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
   * A `kv.watch` of the enqueued counter of `toId`: news once now and again after new messages
   * were queued; it holds the few messages queued since its reader last took them (see
   * {@link InboxWatch}).
   */
  watchInbox(toId: PeerId): InboxWatch {
    return this.#signals.watch(toId);
  }

  /** Whether `message`, as queued by this mailbox, is past its retention at `now`. */
  expired(message: Message, now: number): boolean {
    return Date.parse(message.sent_at) + this.#retentionMs <= now;
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
