/**
 * Waiters: the hook processes that wait, one per peer, for messages to wake an idle Claude Code
 * session with (POST /wait). A waiter is answered once: with the messages claimed for it, or
 * with why it should stop. A newer waiter of the same peer replaces an older one, so a session
 * never wakes twice for one message; what the older one claimed as it was replaced goes to the
 * newer one (a turn's end starts a new waiter just as a message may come in), and what a waiter
 * that left claimed goes back to the inbox at once. Waiting costs no timer: the inbox signal
 * says new messages, and a timer runs only while another presenter holds a claim that may come
 * back.
 *
 * @module
 */
import { CLAIM_MS, type Message, type PeerId, type WaitResponse } from "./protocol.ts";
import type { Mailbox } from "./mailbox.ts";

/** A session whose hooks called within this long counts as reached by hooks. */
const HOOKS_RECENT_MS = 10 * 60_000;
/** Peers whose last hook call is remembered. */
const MAX_REMEMBERED = 2_000;

/** One waiting hook: how it is answered, and how it is told to look at the inbox again. */
interface Waiter {
  answer: (reply: WaitResponse) => void;
  /** Messages it may have seen claimed were given back: claim again now. */
  recheck: () => void;
}

/** The waiting hooks of this broker process. */
export class Waiters {
  #mailbox: Mailbox;
  #waiting = new Map<PeerId, Waiter>();
  #hookSeen = new Map<PeerId, number>();

  constructor(mailbox: Mailbox) {
    this.#mailbox = mailbox;
  }

  /** Notes that a hook of `peerId`'s session called the broker. */
  noteHook(peerId: PeerId, now: number): void {
    this.#hookSeen.delete(peerId);
    this.#hookSeen.set(peerId, now);
    if (this.#hookSeen.size > MAX_REMEMBERED) {
      this.#hookSeen.delete(this.#hookSeen.keys().next().value!);
    }
  }

  /** Whether `peerId`'s hooks hear messages live: one waits now, or one called recently. */
  hooksLive(peerId: PeerId, now: number): boolean {
    if (this.#waiting.has(peerId)) return true;
    const seen = this.#hookSeen.get(peerId);
    return seen !== undefined && now - seen < HOOKS_RECENT_MS;
  }

  /** Waits until there are messages to claim for `peerId`, or a reason to stop. */
  wait(peerId: PeerId, signal: AbortSignal): Promise<WaitResponse> {
    // Its hook has gone already: it replaces nobody and must claim nothing.
    if (signal.aborted) return Promise.resolve({ state: "absent" });
    this.#waiting.get(peerId)?.answer({ state: "replaced" });
    const { promise, resolve } = Promise.withResolvers<WaitResponse>();
    const stopped = new AbortController();
    const waiter: Waiter = {
      answer: (reply) => {
        if (stopped.signal.aborted) return;
        stopped.abort();
        if (this.#waiting.get(peerId) === waiter) this.#waiting.delete(peerId);
        resolve(reply);
      },
      recheck: () => {},
    };
    this.#waiting.set(peerId, waiter);
    signal.addEventListener("abort", () => waiter.answer({ state: "absent" }), { once: true });
    this.#watch(peerId, stopped.signal, waiter).catch(() => waiter.answer({ state: "absent" }));
    return promise;
  }

  /** Answers the waiter of `peerId`, if any, e.g. when its peer is gone. */
  end(peerId: PeerId, reply: WaitResponse): void {
    this.#waiting.get(peerId)?.answer(reply);
  }

  /** Answers every waiter: the broker is stopping. */
  endAll(): void {
    for (const waiter of [...this.#waiting.values()]) waiter.answer({ state: "absent" });
  }

  /**
   * `messages` were claimed for a waiter that was replaced or left meanwhile: the waiter that
   * replaced it wakes the session with them, or, with none waiting, they are given back at once
   * instead of staying claimed for {@link CLAIM_MS}.
   */
  async #handOver(peerId: PeerId, messages: Message[]): Promise<void> {
    if (messages.length === 0) return;
    const current = this.#waiting.get(peerId);
    if (current) return current.answer({ state: "messages", messages });
    await this.#mailbox.release(peerId, messages.map((message) => message.id), Date.now());
    // A waiter that came meanwhile may have found them still claimed (a release is no news).
    this.#waiting.get(peerId)?.recheck();
  }

  async #watch(peerId: PeerId, stopped: AbortSignal, waiter: Waiter): Promise<void> {
    const watch = this.#mailbox.watchInbox(peerId);
    stopped.addEventListener("abort", () => watch.cancel(), { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    let retry = Promise.withResolvers<void>();
    let rechecked = false;
    waiter.recheck = () => {
      rechecked = true;
      retry.resolve();
    };
    let signal = watch.next();
    try {
      while (!stopped.aborted) {
        // A new message, a claim given back, or a claim held by a presenter that died running
        // out (no write).
        const woke = await Promise.race([signal.then((news) => !news), retry.promise]);
        if (woke === true || stopped.aborted) return;
        if (woke === false) signal = watch.next();
        rechecked = false;
        const now = Date.now();
        const { messages, retryAt } = await this.#mailbox.claim(peerId, now, CLAIM_MS, "hook_wake");
        if (stopped.aborted) return await this.#handOver(peerId, messages);
        if (messages.length > 0) return waiter.answer({ state: "messages", messages });
        clearTimeout(timer);
        retry = Promise.withResolvers<void>();
        // Given back while this claim ran: look again at once.
        if (rechecked) retry.resolve();
        else if (retryAt !== null) timer = setTimeout(retry.resolve, retryAt - now + 1);
      }
    } finally {
      clearTimeout(timer);
      watch.cancel();
      waiter.answer({ state: "absent" });
    }
  }
}
