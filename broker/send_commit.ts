/**
 * SendCommitter: the send path of the mailbox. Sends to one recipient are committed one batch
 * at a time (group commit): whatever arrived while the previous batch was being written goes
 * into the next transaction. That keeps ids in commit order per recipient and the queue limit
 * exact, at one write per batch. Each step of a commit is its own method: settle retries,
 * admit (recipient live, room in its queue), write. A broadcast writes every copy in one
 * transaction while it holds each recipient (a {@link KeyedLock}), so per recipient the queue
 * limit stays exact and ids commit in order. Every message's thread record is written with it.
 *
 * @module
 */
import type { Message, PeerId } from "./protocol.ts";
import { MessageIdGenerator } from "./ids.ts";
import { enqueuedCounter, ID_FLOOR, inboxKey, outboxKey, sendKey, threadKey } from "./kv_keys.ts";
import {
  getMany,
  type OutboxRecord,
  type Sender,
  storedOf,
  type ThreadPlace,
  type ThreadRecord,
} from "./mail_records.ts";
import { Refusal } from "./refusal.ts";
import { fulfilled, rejected, SerialBatcher } from "./serial_batcher.ts";
import { KeyedLock } from "./keyed_lock.ts";
import type { QueueCounts } from "./queue_counts.ts";

/** One message to queue. */
export interface PendingSend {
  sender: Sender;
  text: string;
  now: number;
  /** Retrying a send with the same key queues the message once. */
  idempotencyKey: string | undefined;
  /** Where it goes in a conversation. */
  place: ThreadPlace;
}

/** The copies a broadcast queued, and the recipients skipped because their queue was full. */
export interface BroadcastOutcome {
  messages: Message[];
  skipped: PeerId[];
}

/** What a broadcast's idempotency key remembers: its first copy (no text) and every copy. */
interface BroadcastKeyRecord extends Message {
  copies: { id: string; to_id: PeerId }[];
  skipped: PeerId[];
}

/** What the send path enforces and asks of the rest of the broker. */
export interface SendCommitterOptions {
  /** How long an unacknowledged message is kept, in ms. */
  retentionMs: number;
  /** Queued messages one recipient may have. */
  maxQueued: number;
  /** Whether `id` is a live peer that may receive messages. */
  isLive: (id: PeerId, now: number) => Promise<boolean>;
  /** When the session of a peer that is not live ended, or null when it never existed. */
  endedAt: (id: PeerId, now: number) => Promise<number | null>;
  /**
   * Whether `id` reads its queue as it fills (its push stream is open): a send to it that finds
   * the queue full waits up to {@link SendCommitterOptions.roomWaitMs} for room. @default never
   */
  isReading?: (id: PeerId) => boolean;
  /** How long such a send waits for room before it is refused. @default 2000 */
  roomWaitMs?: number;
  /** The queued counts, told of every transaction that changes them. */
  counts: QueueCounts;
  /**
   * New messages (in id order) were committed to the inbox of `toId` at `versionstamp`, inside
   * its lock.
   */
  onQueued: (toId: PeerId, messages: Message[], versionstamp: string) => void;
}

type Outcome = PromiseSettledResult<Message>;

/**
 * How long a send to a reading recipient whose queue is full waits for room: well inside the
 * clients' 5 s call deadline, long enough for a burst to drain.
 */
const ROOM_WAIT_MS = 2_000;

/** Sends in one group commit; each writes up to 4 keys, well inside Deno KV's limits. */
const ENQUEUE_BATCH = 100;
const ENQUEUE_BATCH_BYTES = 256 * 1024;
/** What one broadcast may write in its one transaction, inside Deno KV's 800 KiB. */
const BROADCAST_BYTES = 640 * 1024;
/** A copy's bytes besides its text and sender fields: ids, keys, outbox and thread records. */
const COPY_OVERHEAD_BYTES = 700;

/** Group-commits sends, one batch per recipient at a time. */
export class SendCommitter {
  #kv: Deno.Kv;
  #options: SendCommitterOptions;
  #ids = new MessageIdGenerator();
  #batchers = new Map<PeerId, SerialBatcher<PendingSend, Message>>();
  #recipients = new KeyedLock();

  constructor(kv: Deno.Kv, options: SendCommitterOptions) {
    this.#kv = kv;
    this.#options = options;
  }

  /** Continues the message order of earlier brokers on this database, whatever the clock says. */
  async restoreOrder(): Promise<void> {
    const floor = await this.#kv.get<Deno.KvU64>(ID_FLOOR);
    if (floor.value) this.#ids.raiseFloor(Number(floor.value.value));
  }

  /**
   * Queues `send` for `toId`; resolves once it is durable. Sends that wait for their commit are
   * held in memory, so a recipient has at most as many waiting as it may queue: more could
   * never be admitted by the commit in front of them.
   */
  enqueue(send: PendingSend, toId: PeerId): Promise<Message> {
    const waiting = this.#batchers.get(toId)?.waiting ?? 0;
    if (waiting >= this.#options.maxQueued) {
      return Promise.reject(
        new Refusal(
          "queue_full",
          `Peer "${toId}" has ${waiting} messages waiting to be queued, the most it may have; try again once it reads them`,
        ),
      );
    }
    let batcher = this.#batchers.get(toId);
    if (!batcher) {
      batcher = new SerialBatcher({
        commit: (sends) => this.#commitSends(toId, sends),
        take: takeBatch,
        onIdle: () => this.#batchers.delete(toId),
      });
      this.#batchers.set(toId, batcher);
    }
    return batcher.add(send);
  }

  /**
   * Queues one copy of `send` for each of `recipients` (live peers) in one transaction: all of
   * them or none. A recipient whose queue is full is skipped; when every one is, it is refused.
   */
  broadcast(send: PendingSend, recipients: PeerId[]): Promise<BroadcastOutcome> {
    return this.#recipients.run(recipients, () => this.#broadcastHeld(send, recipients));
  }

  async #broadcastHeld(send: PendingSend, recipients: PeerId[]): Promise<BroadcastOutcome> {
    const key = keyOf(send);
    if (key) {
      const earlier = (await this.#kv.get<BroadcastKeyRecord>(key)).value;
      if (earlier?.copies) return outcomeOf(earlier);
    }
    const counts = this.#options.counts;
    const queued = await Promise.all(recipients.map((id) => counts.count(id)));
    const admitted = recipients.filter((_, i) => queued[i]! < this.#options.maxQueued);
    const skipped = recipients.filter((_, i) => queued[i]! >= this.#options.maxQueued);
    if (admitted.length === 0) {
      throw new Refusal(
        "queue_full",
        `Every peer in ${send.place.broadcast} has the most undelivered messages it may queue; try again once they read them`,
      );
    }
    checkBroadcastSize(send, admitted.length);
    const expireIn = this.#options.retentionMs;
    const op = this.#kv.atomic();
    const messages: Message[] = [];
    let threadId = send.place.thread_id;
    for (const toId of admitted) {
      const message = this.#message(send, toId, threadId);
      threadId ??= message.id;
      this.#write1(op, send, message);
      op.sum(enqueuedCounter(toId), 1n);
      messages.push(message);
    }
    if (key) {
      const record: BroadcastKeyRecord = {
        ...messages[0]!,
        text: "",
        copies: messages.map((message) => ({ id: message.id, to_id: message.to_id })),
        skipped,
      };
      op.check({ key, versionstamp: null }).set(key, record, { expireIn });
    }
    op.max(ID_FLOOR, BigInt(this.#ids.lastTime));
    let versionstamp = "";
    const committed = await counts.change(admitted, async () => {
      const result = await op.commit();
      if (result.ok) versionstamp = result.versionstamp;
      return {
        result: result.ok,
        deltas: result.ok ? new Map(admitted.map((id) => [id, 1])) : null,
      };
    });
    if (committed) {
      for (const message of messages) {
        this.#options.onQueued(message.to_id, [message], versionstamp);
      }
    } else {
      // The same key committed meanwhile: that broadcast is this one.
      const earlier = (await this.#kv.get<BroadcastKeyRecord>(key!)).value;
      if (earlier?.copies) return outcomeOf(earlier);
      throw new Refusal("internal", "A broadcast's transaction conflicted; send it again");
    }
    return { messages, skipped };
  }

  #commitSends(toId: PeerId, batch: PendingSend[]): Promise<Outcome[]> {
    return this.#recipients.run([toId], () => this.#commitHeld(toId, batch));
  }

  /**
   * Commits `batch` for `toId`. A retried send is rare, so the first attempt reads no send key:
   * the transaction checks that each is still unwritten. When one is not (a retry whose first
   * attempt committed) or the transaction failed, or when a keyed send was refused (a retry is
   * answered even by a recipient that is gone or full), the batch is settled again with its
   * send keys read, as every batch was before.
   */
  async #commitHeld(toId: PeerId, batch: PendingSend[], settle = false): Promise<Outcome[]> {
    const outcomes = new Map<PendingSend, Outcome>();
    const fresh = settle ? await this.#settleRetries(batch, outcomes) : batch;
    const accepted = await this.#admit(toId, fresh, outcomes);
    const retry = () => this.#commitHeld(toId, batch, true);
    if (!settle && accepted.length < fresh.length && fresh.some((send) => send.idempotencyKey)) {
      return await retry();
    }
    if (accepted.length > 0 && !await this.#write(toId, accepted, outcomes, settle)) {
      return await retry();
    }
    return batch.map((send) => outcomes.get(send)!);
  }

  /** A retried send whose first attempt committed gets that message back. */
  async #settleRetries(
    batch: PendingSend[],
    outcomes: Map<PendingSend, Outcome>,
  ): Promise<PendingSend[]> {
    const keyed = batch.filter((send) => send.idempotencyKey);
    const earlier = await getMany<Message>(this.#kv, keyed.map(keyOf) as Deno.KvKey[]);
    const earlierByKey = new Map(keyed.map((send, i) => [keyText(send), earlier[i]!.value]));
    return batch.filter((send) => {
      const found = earlierByKey.get(keyText(send));
      if (found) outcomes.set(send, fulfilled(found));
      return !found;
    });
  }

  /** The sends that the recipient's liveness and queue limit let through; the rest refused. */
  async #admit(
    toId: PeerId,
    fresh: PendingSend[],
    outcomes: Map<PendingSend, Outcome>,
  ): Promise<PendingSend[]> {
    if (fresh.length === 0) return [];
    const now = Math.max(...fresh.map((send) => send.now));
    if (!await this.#options.isLive(toId, now)) {
      const endedAt = await this.#options.endedAt(toId, now);
      const error = endedAt === null
        ? new Refusal("peer_not_found", `Peer "${toId}" is not registered`)
        : new Refusal(
          "peer_gone",
          `Peer "${toId}" is not registered: its session ended at ${
            new Date(endedAt).toISOString()
          }`,
        );
      for (const send of fresh) outcomes.set(send, rejected(error));
      return [];
    }
    const queued = await this.#roomFor(toId, fresh.length);
    const room = Math.max(0, this.#options.maxQueued - queued);
    if (room >= fresh.length) return fresh;
    const full = new Refusal(
      "queue_full",
      `Peer "${toId}" has ${queued} undelivered messages, the most it may queue; try again once it reads them`,
    );
    for (const send of fresh.slice(room)) outcomes.set(send, rejected(full));
    return fresh.slice(0, room);
  }

  /**
   * The queued count of `toId`, once it leaves room for `wanted` more messages. A recipient that
   * reads as its queue fills (a burst) is waited for, a while: its acknowledgements make room,
   * and its sender gets no refusal for a queue that was full for a moment. The recipient is held
   * meanwhile, so no other send can take that room first.
   */
  async #roomFor(toId: PeerId, wanted: number): Promise<number> {
    const { counts, maxQueued, isReading } = this.#options;
    let queued = await counts.count(toId);
    if (queued + wanted <= maxQueued || !isReading?.(toId)) return queued;
    const deadline = Date.now() + (this.#options.roomWaitMs ?? ROOM_WAIT_MS);
    while (queued + wanted > maxQueued && Date.now() < deadline && isReading(toId)) {
      await counts.nextChange(toId, deadline - Date.now());
      queued = await counts.count(toId);
    }
    return queued;
  }

  /**
   * Writes the sends in one transaction; when that fails, one by one, so only a bad one fails.
   * Before the send keys were read (`settled` false), a failure returns false with nothing
   * written instead: the caller settles the batch again with them read.
   */
  async #write(
    toId: PeerId,
    sends: PendingSend[],
    outcomes: Map<PendingSend, Outcome>,
    settled: boolean,
  ): Promise<boolean> {
    const { op, written, created } = this.#transaction(toId, sends);
    let error: unknown;
    try {
      let versionstamp = "";
      const committed = await this.#options.counts.change([toId], async () => {
        const result = await op.commit();
        if (result.ok) versionstamp = result.versionstamp;
        return { result: result.ok, deltas: result.ok ? new Map([[toId, created]]) : null };
      });
      if (committed) {
        for (const [send, message] of written) outcomes.set(send, fulfilled(message));
        const queued = [...new Set(written.map(([, message]) => message))];
        this.#options.onQueued(toId, queued, versionstamp);
        return true;
      }
    } catch (caught) {
      error = caught;
    }
    if (!settled) return false;
    if (sends.length === 1 && error !== undefined) {
      outcomes.set(sends[0]!, rejected(error));
      return true;
    }
    // A send key written elsewhere meanwhile failed a check, or one message broke the
    // transaction: settle them one by one (a retry then finds its earlier message).
    for (const send of sends) {
      const [outcome] = await this.#commitHeld(toId, [send], true);
      outcomes.set(send, outcome!);
    }
    return true;
  }

  #transaction(
    toId: PeerId,
    sends: PendingSend[],
  ): { op: Deno.AtomicOperation; written: [PendingSend, Message][]; created: number } {
    const expireIn = this.#options.retentionMs;
    const op = this.#kv.atomic();
    const written: [PendingSend, Message][] = [];
    const byKey = new Map<string, Message>();
    let created = 0;
    for (const send of sends) {
      const key = keyOf(send);
      const duplicate = key ? byKey.get(keyText(send)) : undefined;
      if (duplicate) {
        written.push([send, duplicate]);
        continue;
      }
      const message = this.#message(send, toId, send.place.thread_id);
      this.#write1(op, send, message);
      if (key) {
        // A retry needs the id, not the text (which would count twice against the KV limits).
        op.check({ key, versionstamp: null }).set(key, { ...message, text: "" }, { expireIn });
        byKey.set(keyText(send), message);
      }
      written.push([send, message]);
      created++;
    }
    op.sum(enqueuedCounter(toId), BigInt(created));
    op.max(ID_FLOOR, BigInt(this.#ids.lastTime));
    return { op, written, created };
  }

  /** A new message of `send` for `toId`, in `threadId` (its own id when that is undefined). */
  #message(send: PendingSend, toId: PeerId, threadId: string | undefined): Message {
    const id = this.#ids.next(send.now);
    return {
      id,
      to_id: toId,
      from_id: send.sender.id,
      from_name: send.sender.name,
      from_kind: send.sender.kind,
      from_summary: send.sender.summary,
      from_cwd: send.sender.cwd,
      text: send.text,
      sent_at: new Date(send.now).toISOString(),
      thread_id: threadId ?? id,
      reply_to: send.place.reply_to,
      broadcast: send.place.broadcast,
    };
  }

  /** Adds the message's inbox record, its sender's outbox record and its thread record. */
  #write1(op: Deno.AtomicOperation, send: PendingSend, message: Message): void {
    const expireIn = this.#options.retentionMs;
    const stored = storedOf(message, send.now + expireIn);
    op.set(inboxKey(message.to_id, message.id), stored, { expireIn });
    if (send.sender.kind === "peer") {
      // Kept a retention period past the message's own expiry, so "expired" can be seen.
      const record: OutboxRecord = {
        to_id: message.to_id,
        sent_at: message.sent_at,
        expires_at: stored.expires_at + expireIn,
        message_expires_at: stored.expires_at,
      };
      op.set(outboxKey(send.sender.id, message.id), record, { expireIn: 2 * expireIn });
    }
    const thread: ThreadRecord = {
      from_id: message.from_id,
      from_name: message.from_name,
      from_kind: message.from_kind,
      thread_id: message.thread_id,
      broadcast: message.broadcast,
      expires_at: stored.expires_at,
    };
    op.set(threadKey(message.id), thread, { expireIn });
  }
}

function outcomeOf(earlier: BroadcastKeyRecord): BroadcastOutcome {
  const { copies, skipped, ...first } = earlier;
  return {
    messages: copies.map((copy) => ({ ...first, id: copy.id, to_id: copy.to_id })),
    skipped,
  };
}

/** Refuses a broadcast whose copies would not fit one transaction, naming the text it may carry. */
function checkBroadcastSize(send: PendingSend, copies: number): void {
  const bytes = (text: string) => new TextEncoder().encode(text).byteLength;
  const perCopy = COPY_OVERHEAD_BYTES + bytes(send.sender.cwd) + bytes(send.sender.summary) +
    bytes(send.sender.name);
  const textBytes = bytes(send.text);
  if (copies * (perCopy + textBytes) <= BROADCAST_BYTES) return;
  const most = Math.max(0, Math.floor(BROADCAST_BYTES / copies) - perCopy);
  throw new Refusal(
    "too_large",
    `A broadcast to ${copies} peers may carry at most ${most} bytes of text (every copy is written at once), this one has ${textBytes}; send a shorter text or a file path`,
  );
}

function keyOf(send: PendingSend): Deno.KvKey | undefined {
  return send.idempotencyKey ? sendKey(send.sender.id, send.idempotencyKey) : undefined;
}

function keyText(send: PendingSend): string {
  return `${send.sender.id}\u0000${send.idempotencyKey ?? ""}`;
}

/** How many waiting sends go into one group commit, inside Deno KV's per-transaction limits. */
function takeBatch(waiting: readonly PendingSend[]): number {
  let count = 0;
  let bytes = 0;
  while (
    count < waiting.length && count < ENQUEUE_BATCH && (count === 0 || bytes < ENQUEUE_BATCH_BYTES)
  ) {
    bytes += waiting[count]!.text.length * 3;
    count++;
  }
  return count;
}
