/**
 * InboxSignals: wakes the readers of an inbox (its push stream, a waiting hook) with `kv.watch`
 * on the inbox's enqueued counter, and hands them the messages a commit just wrote while there
 * are few, so the push stream need not read back what was just written.
 *
 * The wake-up is the watch; the hand-over only saves a read. A commit's messages are handed
 * over with the commit's versionstamp, and a watch that woke for a commit whose messages have
 * not been handed over yet (the two arrive in either order) says so, and its reader reads the
 * inbox. So no message waits for a later commit, and none is streamed before it is durable.
 *
 * @module
 */
import type { Message, PeerId } from "./protocol.ts";
import { enqueuedCounter } from "./kv_keys.ts";

/** Messages one watch holds for its reader; more, and it says only that there is news. */
export const WATCH_HELD_MESSAGES = 8;

/**
 * How long a woken watch waits for the hand-over of a commit it saw: the commit's promise and
 * the watch's report resolve in either order, nearly always within a turn of the event loop.
 */
const HAND_OVER_WAIT_MS = 5;

/** Who waits for news of each inbox. */
export class InboxSignals {
  #kv: Deno.Kv;
  #watches = new Map<PeerId, Set<InboxWatch>>();

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** `messages` (new, in id order) were committed to the inbox of `toId` at `versionstamp`. */
  notify(toId: PeerId, messages: readonly Message[], versionstamp: string): void {
    for (const watch of this.#watches.get(toId) ?? []) watch.hold(messages, versionstamp);
  }

  /** A watch of the inbox of `toId`: news now, and after every commit to it. */
  watch(toId: PeerId): InboxWatch {
    let watches = this.#watches.get(toId);
    if (!watches) this.#watches.set(toId, watches = new Set());
    const changes = this.#kv.watch([enqueuedCounter(toId)]).getReader();
    const watch = new InboxWatch(() => {
      watches.delete(watch);
      if (watches.size === 0 && this.#watches.get(toId) === watches) this.#watches.delete(toId);
      changes.cancel().catch(() => {});
    });
    watches.add(watch);
    (async () => {
      try {
        for (;;) {
          const { done, value } = await changes.read();
          if (done) break;
          watch.wake(value[0]?.versionstamp ?? null);
        }
      } catch { /* the database closed or the watch was cancelled */ }
      watch.cancel();
    })();
    return watch;
  }
}

/**
 * One reader's watch of an inbox. News coalesces (a signal means "read the inbox", never "one
 * message"), and the messages committed since the last {@link take} are held, up to
 * {@link WATCH_HELD_MESSAGES}.
 */
export class InboxWatch {
  #due = false;
  #closed = false;
  #wake: (() => void) | undefined;
  /** Resolves a {@link next} waiting for a hand-over. */
  #handedOver: (() => void) | undefined;
  /** Every message handed over since the last take, or null when some were not kept. */
  #held: Message[] | null = null;
  /** The newest versionstamp of the counter the watch has seen ("" before any). */
  #seen = "";
  /** The newest commit whose messages are known: held, or read by the reader. */
  #known = "";
  #onCancel: () => void;

  /** Use {@link InboxSignals.watch}. */
  constructor(onCancel: () => void) {
    this.#onCancel = onCancel;
  }

  /**
   * Resolves true once there is news (the watch's first report counts), false once cancelled.
   * When the watch reported a commit whose messages its promise has not handed over yet, it
   * gives them up to {@link HAND_OVER_WAIT_MS} to arrive, so the reader need not read them back.
   */
  async next(): Promise<boolean> {
    while (!this.#due && !this.#closed) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    this.#due = false;
    if (this.#seen > this.#known && this.#held !== null && !this.#closed) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#handedOver = resolve;
        timer = setTimeout(resolve, HAND_OVER_WAIT_MS);
      });
      clearTimeout(timer);
      this.#handedOver = undefined;
    }
    return !this.#closed;
  }

  /**
   * The messages committed since the previous call, in commit order, or null when they are not
   * all known (the first call, more came than a watch holds, or the watch saw a commit not yet
   * handed over): then read the inbox. Holding starts over from this call either way.
   */
  take(): Message[] | null {
    const held = this.#seen > this.#known ? null : this.#held;
    this.#held = [];
    if (this.#seen > this.#known) this.#known = this.#seen;
    return held;
  }

  /** Stops the watch: a waiting {@link next} resolves false. */
  cancel(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#held = null;
    this.#onCancel();
    this.#handedOver?.();
    this.#signal();
  }

  /** For {@link InboxSignals.notify}: messages a commit at `versionstamp` wrote. */
  hold(messages: readonly Message[], versionstamp: string): void {
    if (this.#closed) return;
    if (versionstamp > this.#known) this.#known = versionstamp;
    if (this.#held !== null) {
      if (this.#held.length + messages.length > WATCH_HELD_MESSAGES) this.#held = null;
      else this.#held.push(...messages);
    }
    if (this.#known >= this.#seen) this.#handedOver?.();
  }

  /** For {@link InboxSignals.watch}: the counter changed (`versionstamp` null: it was deleted). */
  wake(versionstamp: string | null): void {
    if (versionstamp !== null && versionstamp > this.#seen) this.#seen = versionstamp;
    this.#signal();
  }

  #signal(): void {
    this.#due = true;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
