/**
 * SendCommitter: the send path of the mailbox. Sends to one recipient are committed one batch
 * at a time (group commit): whatever arrived while the previous batch was being written goes
 * into the next transaction. That keeps ids in commit order per recipient and the queue limit
 * exact, at one write per batch. Each step of a commit is its own method: settle retries,
 * admit (recipient live, room in its queue), write.
 *
 * @module
 */
import type { Message, PeerId } from "./protocol.ts";
import { MessageIdGenerator } from "./ids.ts";
import { enqueuedCounter, ID_FLOOR, inboxKey, outboxKey, sendKey } from "./kv_keys.ts";
import { getMany, type OutboxRecord, type Sender, storedOf } from "./mail_records.ts";
import { Refusal } from "./refusal.ts";
import { fulfilled, rejected, SerialBatcher } from "./serial_batcher.ts";

/** One message to queue. */
export interface PendingSend {
  sender: Sender;
  text: string;
  now: number;
  /** Retrying a send with the same key queues the message once. */
  idempotencyKey: string | undefined;
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
  /** How many messages are queued for `toId`. */
  queuedCount: (toId: PeerId) => Promise<number>;
}

type Outcome = PromiseSettledResult<Message>;

/** Sends in one group commit; each writes up to 3 keys, well inside Deno KV's limits. */
const ENQUEUE_BATCH = 100;
const ENQUEUE_BATCH_BYTES = 256 * 1024;

/** Group-commits sends, one batch per recipient at a time. */
export class SendCommitter {
  #kv: Deno.Kv;
  #options: SendCommitterOptions;
  #ids = new MessageIdGenerator();
  #batchers = new Map<PeerId, SerialBatcher<PendingSend, Message>>();

  constructor(kv: Deno.Kv, options: SendCommitterOptions) {
    this.#kv = kv;
    this.#options = options;
  }

  /** Continues the message order of earlier brokers on this database, whatever the clock says. */
  async restoreOrder(): Promise<void> {
    const floor = await this.#kv.get<Deno.KvU64>(ID_FLOOR);
    if (floor.value) this.#ids.raiseFloor(Number(floor.value.value));
  }

  /** Queues `send` for `toId`; resolves once it is durable. */
  enqueue(send: PendingSend, toId: PeerId): Promise<Message> {
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

  async #commitSends(toId: PeerId, batch: PendingSend[]): Promise<Outcome[]> {
    const outcomes = new Map<PendingSend, Outcome>();
    const fresh = await this.#settleRetries(batch, outcomes);
    const accepted = await this.#admit(toId, fresh, outcomes);
    if (accepted.length > 0) await this.#write(toId, accepted, outcomes);
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
    const queued = await this.#options.queuedCount(toId);
    const room = Math.max(0, this.#options.maxQueued - queued);
    const full = new Refusal(
      "queue_full",
      `Peer "${toId}" has ${queued} undelivered messages, the most it may queue; try again once it reads them`,
    );
    for (const send of fresh.slice(room)) outcomes.set(send, rejected(full));
    return fresh.slice(0, room);
  }

  /** Writes the sends in one transaction; when that fails, one by one, so only a bad one fails. */
  async #write(
    toId: PeerId,
    sends: PendingSend[],
    outcomes: Map<PendingSend, Outcome>,
  ): Promise<void> {
    const { op, written } = this.#transaction(toId, sends);
    let error: unknown;
    try {
      if ((await op.commit()).ok) {
        for (const [send, message] of written) outcomes.set(send, fulfilled(message));
        return;
      }
    } catch (caught) {
      error = caught;
    }
    if (sends.length === 1 && error !== undefined) {
      outcomes.set(sends[0]!, rejected(error));
      return;
    }
    // A send key written elsewhere meanwhile failed a check, or one message broke the
    // transaction: settle them one by one (a retry then finds its earlier message).
    for (const send of sends) {
      const [outcome] = await this.#commitSends(toId, [send]);
      outcomes.set(send, outcome!);
    }
  }

  #transaction(
    toId: PeerId,
    sends: PendingSend[],
  ): { op: Deno.AtomicOperation; written: [PendingSend, Message][] } {
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
      const message: Message = {
        id: this.#ids.next(send.now),
        to_id: toId,
        from_id: send.sender.id,
        from_kind: send.sender.kind,
        from_summary: send.sender.summary,
        from_cwd: send.sender.cwd,
        text: send.text,
        sent_at: new Date(send.now).toISOString(),
      };
      const stored = storedOf(message, send.now + expireIn);
      op.set(inboxKey(toId, message.id), stored, { expireIn });
      if (send.sender.kind === "peer") {
        // Kept a retention period past the message's own expiry, so "expired" can be seen.
        const record: OutboxRecord = {
          to_id: toId,
          sent_at: message.sent_at,
          expires_at: stored.expires_at + expireIn,
          message_expires_at: stored.expires_at,
        };
        op.set(outboxKey(send.sender.id, message.id), record, { expireIn: 2 * expireIn });
      }
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
    return { op, written };
  }
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
