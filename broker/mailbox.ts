/**
 * Mailbox: the messages. Sending (idempotent, group-committed per recipient), the inbox, its
 * acknowledgement, the sender's outbox and the watch signal that wakes an inbox stream. It
 * asks the registry only whether a recipient is live; it never changes a peer.
 *
 * Every record carries its own `expires_at` (Deno KV's `expireIn` is lazy).
 *
 * @module
 */
import type { Message, PeerId } from "./protocol.ts";
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
  messageOf,
  type OutboxRecord,
  type Sender,
  type StoredMessage,
} from "./mail_records.ts";
import { SendCommitter } from "./send_commit.ts";

export type { Sender };

/** A message the caller sent that is still queued. */
export interface QueuedSend {
  message_id: string;
  to_id: PeerId;
  sent_at: string;
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

const ACK_CHUNK = 40;
/** Messages one claim takes at most. */
export const CLAIM_MAX_MESSAGES = 100;
/** UTF-8 bytes of text one claim takes at most (one message more when it alone is larger). */
export const CLAIM_MAX_BYTES = 256 * 1024;
/** Stored text one claim transaction rewrites: Deno KV refuses a commit over 800 KiB. */
const CLAIM_CHUNK_BYTES = 512 * 1024;

/** `entries` in groups of at most ACK_CHUNK records and CLAIM_CHUNK_BYTES of text. */
function commitChunks(entries: Deno.KvEntry<StoredMessage>[]): Deno.KvEntry<StoredMessage>[][] {
  const chunks: Deno.KvEntry<StoredMessage>[][] = [];
  let chunk: Deno.KvEntry<StoredMessage>[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entry.value.text_utf8?.byteLength ?? 0;
    if (chunk.length === ACK_CHUNK || (chunk.length > 0 && bytes + size > CLAIM_CHUNK_BYTES)) {
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

  constructor(kv: Deno.Kv, options: MailboxOptions) {
    this.#kv = kv;
    this.#sends = new SendCommitter(kv, {
      ...options,
      queuedCount: (toId) => this.queuedCount(toId),
    });
  }

  /** Continues the message order of earlier brokers on this database, whatever the clock says. */
  restoreOrder(): Promise<void> {
    return this.#sends.restoreOrder();
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
    if (expired.length > 0) await this.ack(toId, expired);
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
        const record: StoredMessage = { ...entry.value, claimed_until: now + claimMs };
        op.check(entry).set(entry.key, record, {
          expireIn: Math.max(1, entry.value.expires_at - now),
        });
      }
      // A conflict means another presenter claimed (or acknowledged) some of these meanwhile.
      if ((await op.commit()).ok) claimed.push(...chunk.map((entry) => messageOf(entry.value)));
      else claimed.push(...await this.#claimEach(chunk, now, claimMs));
    }
    return { messages: claimed, retryAt, more };
  }

  async #claimEach(
    entries: Deno.KvEntry<StoredMessage>[],
    now: number,
    claimMs: number,
  ): Promise<Message[]> {
    const claimed: Message[] = [];
    for (const { key } of entries) {
      const entry = await this.#kv.get<StoredMessage>(key);
      const stored = entry.value;
      if (!stored || (stored.claimed_until ?? 0) > now) continue;
      const record: StoredMessage = { ...stored, claimed_until: now + claimMs };
      const expireIn = Math.max(1, stored.expires_at - now);
      if ((await this.#kv.atomic().check(entry).set(key, record, { expireIn }).commit()).ok) {
        claimed.push(messageOf(stored));
      }
    }
    return claimed;
  }

  /** Deletes acknowledged messages of `toId`; returns how many were still queued. */
  async ack(toId: PeerId, ids: string[]): Promise<number> {
    let removed = 0;
    for (let start = 0; start < ids.length; start += ACK_CHUNK) {
      removed += await this.#ackChunk(toId, [...new Set(ids.slice(start, start + ACK_CHUNK))]);
    }
    return removed;
  }

  async #ackChunk(toId: PeerId, ids: string[]): Promise<number> {
    for (;;) {
      const entries = await getMany<StoredMessage>(this.#kv, ids.map((id) => inboxKey(toId, id)));
      const present = entries.filter((entry) => entry.value !== null);
      if (present.length === 0) return 0;
      const counters = await this.#kv.getMany<[Deno.KvU64, Deno.KvU64]>([
        enqueuedCounter(toId),
        removedCounter(toId),
      ]);
      const [enqueued, removed] = counters;
      const op = this.#kv.atomic();
      for (const entry of present) {
        op.check(entry).delete(entry.key);
        const message = entry.value!;
        if (message.from_kind === "peer") op.delete(outboxKey(message.from_id, message.id));
      }
      const left = (enqueued.value?.value ?? 0n) - (removed.value?.value ?? 0n) -
        BigInt(present.length);
      if (left <= 0n) {
        // The inbox is empty now, so its counters go too: a sum or max mutation drops a key's
        // expiry, and without this every peer ever messaged would keep two keys for good. A
        // send committed meanwhile fails the check and this retries.
        op.check(enqueued, removed).delete(enqueuedCounter(toId)).delete(removedCounter(toId));
      } else {
        op.sum(removedCounter(toId), BigInt(present.length));
      }
      if ((await op.commit()).ok) return present.length;
    }
  }

  /** How many messages are queued for `toId`. */
  async queuedCount(toId: PeerId): Promise<number> {
    const [enqueued, removed] = await this.#kv.getMany<[Deno.KvU64, Deno.KvU64]>([
      enqueuedCounter(toId),
      removedCounter(toId),
    ]);
    return Number((enqueued.value?.value ?? 0n) - (removed.value?.value ?? 0n));
  }

  /** Messages `fromId` sent that are still queued, oldest first. */
  async outbox(fromId: string, now: number): Promise<QueuedSend[]> {
    const pending: QueuedSend[] = [];
    for await (const entry of this.#kv.list<OutboxRecord>({ prefix: outboxPrefix(fromId) })) {
      if (entry.value.expires_at <= now) continue;
      pending.push({
        message_id: String(entry.key[2]),
        to_id: entry.value.to_id,
        sent_at: entry.value.sent_at,
      });
    }
    return pending;
  }

  /**
   * A stream that yields once now and again after each new message for `toId`.
   * `kv.watch` coalesces rapid writes, so a signal means "read the inbox", never "one message".
   */
  watchInbox(toId: PeerId): ReadableStream<unknown> {
    return this.#kv.watch([enqueuedCounter(toId)]);
  }
}
