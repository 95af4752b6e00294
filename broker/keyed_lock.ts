/**
 * KeyedLock: runs actions that hold a set of keys one after another per key. The send path
 * holds a recipient from reading its queue count to committing, so a broadcast (many
 * recipients in one transaction) and the group commits of each recipient never interleave:
 * the queue limit stays exact and ids commit in order per recipient, whatever order Deno KV
 * would commit concurrent transactions in. A caller takes its place in every key's queue at
 * one instant, so two callers can never wait on each other in a cycle.
 *
 * @module
 */

/** Mutual exclusion per key, for actions that hold several keys at once. */
export class KeyedLock {
  #tails = new Map<string, Promise<void>>();

  /** Runs `action` once no earlier action holds any of `keys`. */
  async run<T>(keys: Iterable<string>, action: () => Promise<T>): Promise<T> {
    const { promise: released, resolve: release } = Promise.withResolvers<void>();
    const held = [...new Set(keys)];
    const before = held.map((key) => this.#tails.get(key));
    for (const key of held) this.#tails.set(key, released);
    try {
      await Promise.all(before);
      return await action();
    } finally {
      release();
      for (const key of held) if (this.#tails.get(key) === released) this.#tails.delete(key);
    }
  }
}
