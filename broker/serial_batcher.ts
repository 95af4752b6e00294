/**
 * SerialBatcher: one batch in flight at a time; whatever arrives meanwhile goes into the next
 * batch. The broker's group commit, the MCP server's send queue and its acknowledgements all
 * work this way. Items keep their order; each settles on its own.
 *
 * @module
 */

/** How a batcher commits and sizes its batches. */
export interface SerialBatcherOptions<T, R> {
  /** Commits one batch; returns one outcome per item, in order. A throw fails the whole batch. */
  commit: (items: T[]) => Promise<PromiseSettledResult<R>[]>;
  /** How many of the waiting items (at least 1) go into the next batch. @default all of them */
  take?: (waiting: readonly T[]) => number;
  /** Called when the last batch has settled and nothing waits. */
  onIdle?: () => void;
  /**
   * How long the first batch after an idle spell waits for more items before it is committed:
   * fewer, larger batches for items that may wait a little. Batches that follow one in flight
   * go at once (what waited meanwhile is batch enough). A function is asked each time.
   * @default 0
   */
  lingerMs?: number | (() => number);
}

interface Waiting<T, R> {
  item: T;
  resolve: (value: R) => void;
  reject: (reason: unknown) => void;
}

/** Commits items in batches, one batch at a time, in the order they were added. */
export class SerialBatcher<T, R> {
  #options: SerialBatcherOptions<T, R>;
  #waiting: Waiting<T, R>[] = [];
  #running = false;

  constructor(options: SerialBatcherOptions<T, R>) {
    this.#options = options;
  }

  /** Adds `item` behind every earlier one; settles when its batch has been committed. */
  add(item: T): Promise<R> {
    const { promise, resolve, reject } = Promise.withResolvers<R>();
    this.#waiting.push({ item, resolve, reject });
    if (!this.#running) this.#run();
    return promise;
  }

  /** How many items wait for a batch (the one in flight not counted). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Whether nothing waits and no batch is in flight. */
  get idle(): boolean {
    return !this.#running && this.#waiting.length === 0;
  }

  async #run(): Promise<void> {
    this.#running = true;
    const option = this.#options.lingerMs ?? 0;
    const linger = typeof option === "number" ? option : option();
    if (linger > 0) await new Promise((resolve) => setTimeout(resolve, linger));
    while (this.#waiting.length > 0) {
      const wanted = this.#options.take?.(this.#waiting.map((waiting) => waiting.item));
      const count = Math.max(1, Math.min(wanted ?? this.#waiting.length, this.#waiting.length));
      const batch = this.#waiting.splice(0, count);
      try {
        const outcomes = await this.#options.commit(batch.map((waiting) => waiting.item));
        batch.forEach((waiting, index) => {
          const outcome = outcomes[index];
          if (outcome?.status === "fulfilled") waiting.resolve(outcome.value);
          else waiting.reject(outcome ? outcome.reason : new Error("The batch gave no outcome"));
        });
      } catch (error) {
        for (const waiting of batch) waiting.reject(error);
      }
    }
    this.#running = false;
    this.#options.onIdle?.();
  }
}

/** A fulfilled outcome. */
export function fulfilled<R>(value: R): PromiseFulfilledResult<R> {
  return { status: "fulfilled", value };
}

/** A rejected outcome. */
export function rejected(reason: unknown): PromiseRejectedResult {
  return { status: "rejected", reason };
}
