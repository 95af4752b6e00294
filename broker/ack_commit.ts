/**
 * AckCommitter: what happens when a message leaves an inbox, shown (acknowledged) or expired.
 * One transaction per chunk deletes it from the inbox, marks it delivered in the sender's
 * outbox (when shown) and moves it to the history; the chunks stay inside Deno KV's limits on
 * checks and bytes. It also reads the outbox (what became of a sender's messages) and keeps
 * each sender's delivered statuses to the newest {@link OUTBOX_KEEP}, trimmed in batches.
 *
 * @module
 */
import type { DeliveryState, PeerId, ShownVia } from "./protocol.ts";
import { enqueuedCounter, inboxKey, outboxKey, outboxPrefix, removedCounter } from "./kv_keys.ts";
import {
  getMany,
  type HistoryRecord,
  type OutboxRecord,
  outboxState,
  type StoredMessage,
  viaOf,
} from "./mail_records.ts";
import type { History } from "./history.ts";
import type { QueueCounts } from "./queue_counts.ts";

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

const ACK_CHUNK = 40;
/** Message text moved to the history in one transaction, inside Deno KV's 800 KiB. */
const ACK_BYTES = 256 * 1024;
/** Delivered statuses kept per sender (check_messages shows 10); older ones go in batches. */
const OUTBOX_KEEP = 100;
/** Senders whose delivered statuses are counted between trims. */
const MAX_COUNTED_SENDERS = 10_000;

/** What the acknowledgement path needs. */
export interface AckCommitterOptions {
  /** How long a delivered status stays in the sender's outbox, in ms. */
  retentionMs: number;
  /** Messages were shown to their recipient (after the commit). */
  onDelivered: (delivered: Delivered[]) => void;
  /** The queued counts, told of every removal. */
  counts: QueueCounts;
}

/** Moves messages out of inboxes: to the history, and to "delivered" in the outboxes. */
export class AckCommitter {
  #kv: Deno.Kv;
  #history: History;
  #retentionMs: number;
  #onDelivered: (delivered: Delivered[]) => void;
  #counts: QueueCounts;
  /** Statuses marked delivered per sender since its outbox was last trimmed. */
  #settled = new Map<string, number>();

  constructor(kv: Deno.Kv, history: History, options: AckCommitterOptions) {
    this.#kv = kv;
    this.#history = history;
    this.#retentionMs = options.retentionMs;
    this.#onDelivered = options.onDelivered;
    this.#counts = options.counts;
  }

  /** Moves `ids` of `toId` out of its inbox as `state`; resolves to how many were there. */
  async remove(
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

  /**
   * Adds `count` to the inbox's removed counter, or, when that empties the inbox, deletes both of
   * its counters: a sum drops a key's expiry, so without this every peer ever messaged would keep
   * two keys for good. A send committed meanwhile fails the check and the caller reads again.
   */
  async #countRemoved(op: Deno.AtomicOperation, toId: PeerId, count: number): Promise<void> {
    // Messages stay queued after this removal: no need to read the counters to know it. (A
    // count remembered too high, with a removal still in flight, only keeps them a while.)
    const known = this.#counts.known(toId);
    if (known !== undefined && known - count > 0) {
      op.sum(removedCounter(toId), BigInt(count));
      return;
    }
    const [enqueued, removed] = await this.#kv.getMany<[Deno.KvU64, Deno.KvU64]>([
      enqueuedCounter(toId),
      removedCounter(toId),
    ]);
    const left = (enqueued.value?.value ?? 0n) - (removed.value?.value ?? 0n) - BigInt(count);
    if (left <= 0n) {
      op.check(enqueued, removed).delete(enqueuedCounter(toId)).delete(removedCounter(toId));
    } else {
      op.sum(removedCounter(toId), BigInt(count));
    }
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
      const op = this.#kv.atomic();
      const moved: HistoryRecord[] = [];
      const delivered: Delivered[] = [];
      present.forEach((entry) => {
        const message = entry.value!;
        const via = state === "expired" ? null : details.via ?? viaOf(message.claimed_by) ??
          "channel";
        const at = state === "expired" ? message.expires_at : details.now;
        op.check(entry).delete(entry.key);
        if (via !== null && message.from_kind === "peer") {
          // What the send wrote (outbox records of queued messages outlive them and are never
          // trimmed), now delivered: no need to read it back.
          const record: OutboxRecord = {
            to_id: message.to_id,
            sent_at: message.sent_at,
            message_expires_at: message.expires_at,
            state: "delivered",
            state_at: at,
            via,
            expires_at: at + this.#retentionMs,
          };
          op.set(outboxKey(message.from_id, message.id), record, {
            expireIn: this.#retentionMs,
          });
        }
        const { claimed_until: _until, claimed_by: _by, ...kept } = message;
        moved.push({
          ...kept,
          state,
          state_at: at,
          via,
          expires_at: this.#history.expiresAt(at),
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
      this.#history.write(op, moved);
      await this.#countRemoved(op, toId, present.length);
      const committed = await this.#counts.change([toId], async () => {
        const ok = (await op.commit()).ok;
        return { result: ok, deltas: ok ? new Map([[toId, -present.length]]) : null };
      });
      // A conflict means a presenter claimed or acknowledged some of these meanwhile: read again.
      if (!committed) continue;
      await this.#history.added(this.#history.enabled ? moved.length : 0, details.now);
      done.push(...delivered);
      removed += present.length;
      const senders = present.filter((entry) => entry.value!.from_kind === "peer")
        .map((entry) => entry.value!.from_id);
      if (state === "delivered") await this.#countSettled(senders);
      const handled = new Set(present.map((entry) => entry.value!.id));
      pending = pending.filter((id) => !handled.has(id));
    }
    return { removed, delivered: done };
  }

  /**
   * Counts delivered statuses per sender; every {@link OUTBOX_KEEP} of them, the sender's
   * delivered statuses beyond the newest {@link OUTBOX_KEEP} go: O(1) amortised per message.
   */
  async #countSettled(senders: string[]): Promise<void> {
    for (const fromId of senders) {
      const count = (this.#settled.get(fromId) ?? 0) + 1;
      if (count < OUTBOX_KEEP) {
        if (this.#settled.size >= MAX_COUNTED_SENDERS) this.#settled.clear();
        this.#settled.set(fromId, count);
        continue;
      }
      this.#settled.delete(fromId);
      const old: Deno.KvKey[] = [];
      let newer = 0;
      const selector = { prefix: outboxPrefix(fromId) };
      for await (const entry of this.#kv.list<OutboxRecord>(selector, { reverse: true })) {
        if (++newer > OUTBOX_KEEP && entry.value.state === "delivered") old.push(entry.key);
      }
      for (let start = 0; start < old.length; start += 500) {
        const op = this.#kv.atomic();
        for (const key of old.slice(start, start + 500)) op.delete(key);
        await op.commit();
      }
    }
  }

  /** The `limit` messages `fromId` sent last, newest first, with what became of each. */
  async outbox(fromId: string, now: number, limit: number): Promise<SentRecord[]> {
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
