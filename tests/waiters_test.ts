/**
 * Waiters (the broker's side of `hook wait`) over a real Mailbox on an in-memory KV: a waiter
 * that is replaced or leaves while its claim is in flight must not keep what it claimed from
 * the session for the claim's 30 s.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Mailbox, type Sender } from "../broker/mailbox.ts";
import { PeerRegistry } from "../broker/peers.ts";
import { Waiters } from "../broker/waiters.ts";
import { within } from "./_fixtures/wait.ts";
import { REGISTRATION } from "./_fixtures/registration.ts";

const OPTIONS = { leaseMs: 60_000, retentionMs: 60_000, maxQueued: 10, maxPeers: 10 };
const SENDER: Sender = { id: "s", name: "s", kind: "cli", summary: "", cwd: "/w" };
/** Far below the claim's 30 s, far above what an answer in memory takes. */
const ANSWER_MS = 3_000;

/**
 * A mailbox whose claims can be followed, and whose claim number {@link held} (counting from 1)
 * returns what it claimed only once {@link letGo} is called. With {@link holdReleases}, a
 * release starts (`releasing` resolves) and commits only once {@link letRelease} is called.
 */
class HeldClaim extends Mailbox {
  held = 2;
  holdReleases = false;
  releasing = Promise.withResolvers<void>();
  #claims = 0;
  #claimed = new Map<number, PromiseWithResolvers<void>>();
  #letGo = Promise.withResolvers<void>();
  #letRelease = Promise.withResolvers<void>();

  /** Resolves once claim number `n` has claimed (and, if held, holds) its messages. */
  claimed(n: number): Promise<void> {
    return this.#done(n).promise;
  }

  letGo(): void {
    this.#letGo.resolve();
  }

  letRelease(): void {
    this.#letRelease.resolve();
  }

  override async release(...args: Parameters<Mailbox["release"]>): Promise<void> {
    this.releasing.resolve();
    if (this.holdReleases) await this.#letRelease.promise;
    await super.release(...args);
  }

  override async claim(...args: Parameters<Mailbox["claim"]>): ReturnType<Mailbox["claim"]> {
    const result = await super.claim(...args);
    const n = ++this.#claims;
    this.#done(n).resolve();
    if (n === this.held) await this.#letGo.promise;
    return result;
  }

  #done(n: number): PromiseWithResolvers<void> {
    let done = this.#claimed.get(n);
    if (!done) this.#claimed.set(n, done = Promise.withResolvers<void>());
    return done;
  }
}

async function withWaiters(
  fn: (parts: { mailbox: HeldClaim; waiters: Waiters; peerId: string }) => Promise<void>,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const registry = new PeerRegistry(kv, OPTIONS);
  const mailbox = new HeldClaim(kv, {
    ...OPTIONS,
    isLive: async (id, now) => await registry.getPeer(id, now) !== null,
    endedAt: (id, now) => registry.endedAt(id, now),
  });
  const waiters = new Waiters(mailbox);
  try {
    const { peer } = await registry.register(REGISTRATION, Date.now());
    await fn({ mailbox, waiters, peerId: peer.id });
  } finally {
    waiters.endAll();
    mailbox.letGo();
    mailbox.letRelease();
    kv.close();
  }
}

Deno.test("a waiter replaced while it claims a message hands it to the waiter that replaced it", () =>
  withWaiters(async ({ mailbox, waiters, peerId }) => {
    const older = waiters.wait(peerId, new AbortController().signal);
    // The waiter's first claim (at its start) finds nothing; its second holds the message.
    await within(mailbox.claimed(1), "the first claim", ANSWER_MS);
    const message = await mailbox.enqueue(SENDER, peerId, "wake up", Date.now());
    await within(mailbox.claimed(2), "the claim of the message", ANSWER_MS);
    const newer = waiters.wait(peerId, new AbortController().signal);
    assert.deepEqual(await within(older, "the older waiter's answer", ANSWER_MS), {
      state: "replaced",
    });
    mailbox.letGo();
    const woke = await within(newer, "the newer waiter's answer", ANSWER_MS);
    assert.equal(woke.state, "messages");
    assert.deepEqual(woke.state === "messages" && woke.messages.map((each) => each.id), [
      message.id,
    ]);
  }));

Deno.test("a waiter that leaves while it claims a message gives it back at once", () =>
  withWaiters(async ({ mailbox, waiters, peerId }) => {
    const leaving = new AbortController();
    const waiting = waiters.wait(peerId, leaving.signal);
    await within(mailbox.claimed(1), "the first claim", ANSWER_MS);
    const message = await mailbox.enqueue(SENDER, peerId, "for whoever looks next", Date.now());
    await within(mailbox.claimed(2), "the claim of the message", ANSWER_MS);
    leaving.abort();
    assert.deepEqual(await within(waiting, "the leaving waiter's answer", ANSWER_MS), {
      state: "absent",
    });
    mailbox.letGo();
    // The next presenter (a tool call's claim, a later waiter) finds it free at once.
    let claimed: string[] = [];
    const deadline = Date.now() + ANSWER_MS;
    while (claimed.length === 0 && Date.now() < deadline) {
      claimed = (await mailbox.claim(peerId, Date.now(), 30_000, "tool_result")).messages.map(
        (each) => each.id,
      );
      if (claimed.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(claimed, [message.id]);
  }));

Deno.test("a waiter that came while a left waiter's claim was being given back claims it then", () =>
  withWaiters(async ({ mailbox, waiters, peerId }) => {
    mailbox.holdReleases = true;
    const leaving = new AbortController();
    const first = waiters.wait(peerId, leaving.signal);
    await within(mailbox.claimed(1), "the first claim", ANSWER_MS);
    const message = await mailbox.enqueue(SENDER, peerId, "wake up", Date.now());
    await within(mailbox.claimed(2), "the claim of the message", ANSWER_MS);
    leaving.abort();
    assert.deepEqual(await within(first, "the leaving waiter's answer", ANSWER_MS), {
      state: "absent",
    });
    mailbox.letGo();
    // Nobody waits, so the message goes back; just then the next turn's hook starts waiting,
    // and its first claim still finds the message claimed. The release writes no news.
    await within(mailbox.releasing.promise, "the release", ANSWER_MS);
    const next = waiters.wait(peerId, new AbortController().signal);
    await within(mailbox.claimed(3), "the new waiter's first claim", ANSWER_MS);
    mailbox.letRelease();
    const woke = await within(next, "the new waiter's answer", ANSWER_MS);
    assert.equal(woke.state, "messages");
    assert.deepEqual(woke.state === "messages" && woke.messages.map((each) => each.id), [
      message.id,
    ]);
  }));

Deno.test("a wait whose request has already ended answers at once, replaces nobody and claims nothing", () =>
  withWaiters(async ({ mailbox, waiters, peerId }) => {
    const waiting = waiters.wait(peerId, new AbortController().signal);
    await within(mailbox.claimed(1), "the waiter's first claim", ANSWER_MS);
    assert.deepEqual(
      await within(waiters.wait(peerId, AbortSignal.abort()), "the answer", ANSWER_MS),
      {
        state: "absent",
      },
    );
    assert.equal(waiters.hooksLive(peerId, Date.now()), true, "the earlier waiter still waits");
    mailbox.held = 0;
    const message = await mailbox.enqueue(SENDER, peerId, "for the waiter", Date.now());
    const woke = await within(waiting, "the earlier waiter's answer", ANSWER_MS);
    assert.deepEqual(woke.state === "messages" && woke.messages.map((each) => each.id), [
      message.id,
    ]);
  }));
