/**
 * QueueCounts: how many messages each recipient has queued, kept in memory so a send and an
 * acknowledgement need not read the two counters back every time. The broker is the only
 * process that writes its database, so a count stays true while every change to the counters
 * goes through {@link QueueCounts.change}: the send and acknowledgement paths call it around
 * each transaction that touches them. It never writes the database.
 *
 * A count is learnt from the database only when no change to that recipient's counters was in
 * flight while it was read (the read could have seen the change or not); a change whose outcome
 * is unknown (the commit threw) forgets the count.
 *
 * @module
 */
import type { PeerId } from "./protocol.ts";
import { enqueuedCounter, removedCounter } from "./kv_keys.ts";

/** Recipients whose count is remembered; beyond that the memory starts over. */
const MAX_KNOWN = 4096;

/** A read of one recipient's counters, and whether a change overlapped it. */
interface Reading {
  count: Promise<number>;
  overlapped: boolean;
}

/** The queued-message count of each recipient, from the database and then in memory. */
export class QueueCounts {
  #kv: Deno.Kv;
  #known = new Map<PeerId, number>();
  /** Changes begun and not yet settled, per recipient. */
  #changing = new Map<PeerId, number>();
  #reading = new Map<PeerId, Reading>();
  /** Who waits for the next settled change of a recipient's counters. */
  #watchers = new Map<PeerId, Set<() => void>>();

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** How many messages are queued for `toId`: remembered, else read. */
  count(toId: PeerId): Promise<number> {
    const known = this.#known.get(toId);
    if (known !== undefined) return Promise.resolve(known);
    const reading = this.#reading.get(toId);
    if (reading) return reading.count;
    const read: Reading = { count: this.#read(toId), overlapped: this.#changing.has(toId) };
    this.#reading.set(toId, read);
    void read.count.then((count) => {
      if (!read.overlapped) this.#remember(toId, count);
    }, () => {}).finally(() => {
      if (this.#reading.get(toId) === read) this.#reading.delete(toId);
    });
    return read.count;
  }

  /** The count remembered for `toId`, if any: no read. */
  known(toId: PeerId): number | undefined {
    return this.#known.get(toId);
  }

  /**
   * Runs `commit`, a transaction that may change the counters of `toIds`; it resolves to the
   * change of each one's count when it committed (nothing when it did not). A throw forgets
   * their counts: the transaction may or may not have committed.
   */
  async change<T>(
    toIds: readonly PeerId[],
    commit: () => Promise<{ result: T; deltas: ReadonlyMap<PeerId, number> | null }>,
  ): Promise<T> {
    for (const toId of toIds) {
      this.#changing.set(toId, (this.#changing.get(toId) ?? 0) + 1);
      const reading = this.#reading.get(toId);
      if (reading) reading.overlapped = true;
    }
    try {
      const { result, deltas } = await commit();
      for (const [toId, delta] of deltas ?? []) {
        const known = this.#known.get(toId);
        if (known !== undefined) this.#known.set(toId, known + delta);
      }
      return result;
    } catch (error) {
      for (const toId of toIds) this.#known.delete(toId);
      throw error;
    } finally {
      for (const toId of toIds) {
        const left = this.#changing.get(toId)! - 1;
        if (left === 0) this.#changing.delete(toId);
        else this.#changing.set(toId, left);
        this.#wake(toId);
      }
    }
  }

  /**
   * Resolves once the next change to the counters of `toId` has settled (committed, failed or
   * thrown), or after `timeoutMs`, whichever comes first.
   */
  nextChange(toId: PeerId, timeoutMs: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    let watchers = this.#watchers.get(toId);
    if (!watchers) this.#watchers.set(toId, watchers = new Set());
    const done = () => {
      clearTimeout(timer);
      watchers.delete(done);
      if (watchers.size === 0 && this.#watchers.get(toId) === watchers) {
        this.#watchers.delete(toId);
      }
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, timeoutMs));
    watchers.add(done);
    return promise;
  }

  #wake(toId: PeerId): void {
    for (const done of [...this.#watchers.get(toId) ?? []]) done();
  }

  async #read(toId: PeerId): Promise<number> {
    const [enqueued, removed] = await this.#kv.getMany<[Deno.KvU64, Deno.KvU64]>([
      enqueuedCounter(toId),
      removedCounter(toId),
    ]);
    return Number((enqueued.value?.value ?? 0n) - (removed.value?.value ?? 0n));
  }

  #remember(toId: PeerId, count: number): void {
    if (this.#known.size >= MAX_KNOWN && !this.#known.has(toId)) this.#known.clear();
    this.#known.set(toId, count);
  }
}
