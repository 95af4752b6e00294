/**
 * BroadcastLimit: how many broadcasts one sender may make per window. Part of the loop guard
 * for models that answer each other automatically: whatever they do, one sender's fan-out
 * stays a few messages a minute. Kept in memory (the broker is the one process that sends),
 * so a broker restart starts every window afresh.
 *
 * @module
 */
import { Refusal } from "./refusal.ts";

/** The limit and its window. */
export interface BroadcastLimitOptions {
  /** Broadcasts per window and sender. */
  max: number;
  /** The window, in ms. */
  windowMs: number;
}

/** Broadcast times per sender, within the window. */
export class BroadcastLimit {
  #options: BroadcastLimitOptions;
  #sent = new Map<string, number[]>();

  constructor(options: BroadcastLimitOptions) {
    this.#options = options;
  }

  /**
   * Takes one broadcast of `sender` now, or refuses naming the wait in seconds. Call the
   * returned function to give it back when the broadcast was not sent after all.
   */
  take(sender: string, now: number): () => void {
    const { max, windowMs } = this.#options;
    const recent = (this.#sent.get(sender) ?? []).filter((time) => time > now - windowMs);
    if (recent.length >= max) {
      const waitS = Math.max(1, Math.ceil((recent[0]! + windowMs - now) / 1000));
      throw new Refusal(
        "rate_limited",
        `Too many broadcasts: at most ${max} per ${
          windowMs / 1000
        } s from one sender; wait ${waitS} s, or send to one peer`,
      );
    }
    recent.push(now);
    this.#sent.set(sender, recent);
    if (this.#sent.size > 10_000) this.#forgetIdle(now);
    return () => {
      const times = this.#sent.get(sender);
      const index = times?.indexOf(now) ?? -1;
      if (index >= 0) times!.splice(index, 1);
    };
  }

  #forgetIdle(now: number): void {
    for (const [sender, times] of this.#sent) {
      if (times.every((time) => time <= now - this.#options.windowMs)) this.#sent.delete(sender);
    }
  }
}
