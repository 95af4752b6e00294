/**
 * InboxSignals: wakes the readers of an inbox (its push stream, a waiting hook) when messages
 * were queued for it, and hands them the messages themselves while there are few. The broker is
 * the only process that writes its database, so its own commits are every change there is:
 * this replaces a `kv.watch` on the inbox's counter, which read the counter back after every
 * commit (acknowledgements included) for every watcher, and saves the push stream reading back
 * what was just written. It never reads or writes the database.
 *
 * @module
 */
import type { Message, PeerId } from "./protocol.ts";

/** Messages one watch holds for its reader; more, and it says only that there is news. */
export const WATCH_HELD_MESSAGES = 8;

/** Who waits for news of each inbox. */
export class InboxSignals {
  #watches = new Map<PeerId, Set<InboxWatch>>();

  /** `messages` (new, in id order) were committed to the inbox of `toId`. */
  notify(toId: PeerId, messages: readonly Message[]): void {
    for (const watch of this.#watches.get(toId) ?? []) watch.add(messages);
  }

  /** A watch of the inbox of `toId`: news now, and after every commit to it. */
  watch(toId: PeerId): InboxWatch {
    let watches = this.#watches.get(toId);
    if (!watches) this.#watches.set(toId, watches = new Set());
    const watch = new InboxWatch(() => {
      watches.delete(watch);
      if (watches.size === 0 && this.#watches.get(toId) === watches) this.#watches.delete(toId);
    });
    watches.add(watch);
    return watch;
  }
}

/**
 * One reader's watch of an inbox. News coalesces (a signal means "read the inbox", never "one
 * message"), and the messages committed since the last {@link take} are held, up to
 * {@link WATCH_HELD_MESSAGES}.
 */
export class InboxWatch {
  #due = true;
  #closed = false;
  #wake: (() => void) | undefined;
  /** Every message committed since the last take, or null when some were not kept. */
  #held: Message[] | null = null;
  #onCancel: () => void;

  /** Use {@link InboxSignals.watch}. */
  constructor(onCancel: () => void) {
    this.#onCancel = onCancel;
  }

  /** Resolves true once there is news (at once the first time), false once cancelled. */
  async next(): Promise<boolean> {
    while (!this.#due && !this.#closed) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    this.#due = false;
    return !this.#closed;
  }

  /**
   * The messages committed since the previous call, in commit order, or null when they are not
   * all known (the first call, or more came than a watch holds): then read the inbox. Holding
   * starts over from this call either way.
   */
  take(): Message[] | null {
    const held = this.#held;
    this.#held = [];
    return held;
  }

  /** Stops the watch: a waiting {@link next} resolves false. */
  cancel(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#held = null;
    this.#onCancel();
    this.#signal();
  }

  /** For {@link InboxSignals.notify}. */
  add(messages: readonly Message[]): void {
    if (this.#held !== null) {
      if (this.#held.length + messages.length > WATCH_HELD_MESSAGES) this.#held = null;
      else this.#held.push(...messages);
    }
    this.#signal();
  }

  #signal(): void {
    this.#due = true;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
