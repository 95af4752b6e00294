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
  threadKey,
} from "./kv_keys.ts";
import {
  getMany,
  messageOf,
  type OutboxRecord,
  type Sender,
  type StoredMessage,
  type ThreadPlace,
  type ThreadRecord,
} from "./mail_records.ts";
import { type BroadcastOutcome, SendCommitter } from "./send_commit.ts";

export type { BroadcastOutcome, Sender, ThreadPlace, ThreadRecord };

/** A message to one peer, in no thread yet. */
const NEW_THREAD: ThreadPlace = { reply_to: null, broadcast: null };

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

const ACK_CHUNK = 40;

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
    const messages: Message[] = [];
    const expired: string[] = [];
    const selector: Deno.KvListSelector = afterId === undefined
      ? { prefix: inboxPrefix(toId) }
      : { prefix: inboxPrefix(toId), start: inboxAfter(toId, afterId) };
    for await (const entry of this.#kv.list<StoredMessage>(selector)) {
      if (entry.value.expires_at <= now) expired.push(entry.value.id);
      else messages.push(messageOf(entry.value));
    }
    if (expired.length > 0) await this.ack(toId, expired);
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
        const record: StoredMessage = { ...entry.value, claimed_until: now + claimMs };
        op.check(entry).set(entry.key, record, {
          expireIn: Math.max(1, entry.value.expires_at - now),
        });
      }
      // A conflict means another presenter claimed (or acknowledged) some of these meanwhile.
      if ((await op.commit()).ok) claimed.push(...chunk.map((entry) => messageOf(entry.value)));
      else claimed.push(...await this.#claimEach(chunk, now, claimMs));
    }
    return { messages: claimed, retryAt };
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
      const op = this.#kv.atomic();
      for (const entry of present) {
        op.check(entry).delete(entry.key);
        const message = entry.value!;
        if (message.from_kind === "peer") op.delete(outboxKey(message.from_id, message.id));
      }
      op.sum(removedCounter(toId), BigInt(present.length));
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
