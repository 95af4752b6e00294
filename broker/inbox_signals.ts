/**
 * InboxSignals: wakes the readers of an inbox (its push stream, a waiting hook) when a message
 * was queued for it. The broker is the only process that writes its database, so its own
 * commits are every change there is: this replaces a `kv.watch` on the inbox's counter, which
 * read the counter back after every commit (acknowledgements included) for every watcher. It
 * never reads or writes the database.
 *
 * @module
 */
import type { PeerId } from "./protocol.ts";

/** Who waits for news of each inbox. */
export class InboxSignals {
  #listeners = new Map<PeerId, Set<() => void>>();

  /** Messages were queued for `toId` (committed): its watchers read the inbox. */
  notify(toId: PeerId): void {
    for (const listener of this.#listeners.get(toId) ?? []) listener();
  }

  /**
   * A stream that yields once now and again after messages were queued for `toId`; signals
   * that come while nobody reads coalesce into one, as `kv.watch`'s do. Cancel it to stop.
   */
  watch(toId: PeerId): ReadableStream<true> {
    let due = true;
    let closed = false;
    let wake: (() => void) | undefined;
    const listener = () => {
      due = true;
      const waiting = wake;
      wake = undefined;
      waiting?.();
    };
    let listeners = this.#listeners.get(toId);
    if (!listeners) this.#listeners.set(toId, listeners = new Set());
    listeners.add(listener);
    const stop = () => {
      if (closed) return;
      closed = true;
      listeners.delete(listener);
      if (listeners.size === 0 && this.#listeners.get(toId) === listeners) {
        this.#listeners.delete(toId);
      }
      listener();
    };
    return new ReadableStream<true>({
      async pull(controller) {
        while (!due) await new Promise<void>((resolve) => wake = resolve);
        if (closed) return;
        due = false;
        controller.enqueue(true);
      },
      cancel: stop,
    }, { highWaterMark: 0 });
  }
}
