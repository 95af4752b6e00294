/**
 * History: the messages after delivery (or expiry), bounded by age and by count, in the same
 * owner-only database. Records sort by message id (acceptance order) and carry their own
 * `expires_at` (Deno KV's `expireIn` is lazy). Pruning costs O(1) amortised per message: an
 * exact count (two counters in the database, a copy in memory; the broker is the only writer)
 * and, when it passes the limit, one deletion of the oldest records; the age bound is checked
 * only when the oldest record is due (on a new record, a read or start-up). It never touches the
 * inbox: the mailbox moves messages in.
 *
 * @module
 */
import { HISTORY, HISTORY_ADDED, HISTORY_REMOVED, historyKey } from "./kv_keys.ts";
import type { HistoryRecord } from "./mail_records.ts";

/** The bounds of the history. */
export interface HistoryOptions {
  /** How long a message stays after delivery, in ms; 0 keeps none. */
  historyMs: number;
  /** Most messages kept; 0 keeps none. */
  historyMax: number;
}

/** Records read at a time when looking for expired ones. */
const SCAN_CHUNK = 100;
/** Deletions in one transaction (Deno KV allows 1000 mutations). */
const DELETE_CHUNK = 500;

/** The bounded history of one database. */
export class History {
  #kv: Deno.Kv;
  #options: HistoryOptions;
  #count = 0;
  /** No record expires before this time: until then the age bound needs no read. */
  #nextExpiry = 0;
  /** Pruning and clearing run one at a time, so the count stays exact. */
  #serial: Promise<unknown> = Promise.resolve();

  constructor(kv: Deno.Kv, options: HistoryOptions) {
    this.#kv = kv;
    this.#options = options;
  }

  /** Whether delivered messages are kept at all. */
  get enabled(): boolean {
    return this.#options.historyMs > 0 && this.#options.historyMax > 0;
  }

  /** When a message moved to the history at `now` leaves it. */
  expiresAt(now: number): number {
    return now + this.#options.historyMs;
  }

  /**
   * Reads the count and applies this broker's bounds to what an earlier one kept: all of it
   * goes when the history is turned off, what is over the limit or past its days otherwise.
   */
  async restore(): Promise<void> {
    const [added, removed] = await this.#kv.getMany<[Deno.KvU64, Deno.KvU64]>([
      HISTORY_ADDED,
      HISTORY_REMOVED,
    ]);
    this.#count = Number((added.value?.value ?? 0n) - (removed.value?.value ?? 0n));
    if (this.#count === 0) return;
    if (this.enabled) await this.#oneAtATime(() => this.#prune(Date.now()));
    else await this.clear();
  }

  /** Adds the writes that put `records` in the history to `op` (the caller commits). */
  write(op: Deno.AtomicOperation, records: HistoryRecord[]): void {
    if (!this.enabled || records.length === 0) return;
    // No `expireIn`: a key Deno KV dropped on its own would leave the count too high. The
    // broker prunes expired records itself (on the next message, at start-up, on a read).
    for (const record of records) op.set(historyKey(record.id), record);
    op.sum(HISTORY_ADDED, BigInt(records.length));
  }

  /** `count` records written by {@link write} committed at `now`: prune what is over the bounds. */
  added(count: number, now: number): Promise<void> {
    if (!this.enabled || count === 0) return Promise.resolve();
    this.#count += count;
    return this.#oneAtATime(() => this.#prune(now));
  }

  /** How many records the history holds (expired ones not yet pruned included). */
  get count(): number {
    return this.#count;
  }

  /**
   * The newest unexpired records that `matches` accepts, newest first, at most `limit` (plus
   * one, so the caller can tell there are more).
   */
  async newest(
    matches: (record: HistoryRecord) => boolean,
    limit: number,
    now: number,
  ): Promise<HistoryRecord[]> {
    if (this.#count > 0 && now >= this.#nextExpiry) {
      await this.#oneAtATime(() => this.#dropExpired(now));
    }
    const found: HistoryRecord[] = [];
    for await (
      const entry of this.#kv.list<HistoryRecord>({ prefix: HISTORY }, { reverse: true })
    ) {
      if (entry.value.expires_at <= now || !matches(entry.value)) continue;
      found.push(entry.value);
      if (found.length > limit) break;
    }
    return found;
  }

  /** Deletes every record; resolves to how many there were. */
  clear(): Promise<number> {
    return this.#oneAtATime(async () => {
      const keys: Deno.KvKey[] = [];
      for await (const entry of this.#kv.list({ prefix: HISTORY })) keys.push(entry.key);
      await this.#delete(keys);
      return keys.length;
    });
  }

  #oneAtATime<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(task);
    this.#serial = run.catch(() => {});
    return run;
  }

  async #prune(now: number): Promise<void> {
    const max = this.#options.historyMax;
    if (this.#count > max) {
      // Trim a little below the limit, so a trim runs once per `slack` messages, not each one.
      const slack = Math.max(1, Math.floor(max / 100));
      const excess = this.#count - max + slack - 1;
      const oldest: Deno.KvKey[] = [];
      for await (const entry of this.#kv.list({ prefix: HISTORY }, { limit: excess })) {
        oldest.push(entry.key);
      }
      await this.#delete(oldest);
    }
    if (now >= this.#nextExpiry) await this.#dropExpired(now);
  }

  /** Deletes the expired records at the old end, up to the first that has not expired. */
  async #dropExpired(now: number): Promise<void> {
    const expired: Deno.KvKey[] = [];
    let next = now + this.#options.historyMs;
    for await (
      const entry of this.#kv.list<HistoryRecord>({ prefix: HISTORY }, { limit: SCAN_CHUNK })
    ) {
      if (entry.value.expires_at > now) {
        next = entry.value.expires_at;
        break;
      }
      expired.push(entry.key);
    }
    await this.#delete(expired);
    // A full chunk expired: there may be more, look again next time.
    this.#nextExpiry = expired.length === SCAN_CHUNK ? now : next;
  }

  async #delete(keys: Deno.KvKey[]): Promise<void> {
    for (let start = 0; start < keys.length; start += DELETE_CHUNK) {
      const chunk = keys.slice(start, start + DELETE_CHUNK);
      const op = this.#kv.atomic();
      for (const key of chunk) op.delete(key);
      op.sum(HISTORY_REMOVED, BigInt(chunk.length));
      await op.commit();
      this.#count -= chunk.length;
    }
  }
}
