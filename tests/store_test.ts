/**
 * Unit tests of the peer registry and the mailbox on an in-memory Deno KV.
 *
 * @module
 */
import assert from "node:assert/strict";
import { PeerRegistry } from "../broker/peers.ts";
import { CLAIM_MAX_BYTES, Mailbox, type MailboxOptions, type Sender } from "../broker/mailbox.ts";
import { Refusal } from "../broker/refusal.ts";
import { enqueuedCounter, removedCounter } from "../broker/kv_keys.ts";
import { REGISTRATION } from "./_fixtures/registration.ts";

const OPTIONS = { leaseMs: 1_000, retentionMs: 60_000, maxQueued: 3, maxPeers: 10 };

interface Store {
  registry: PeerRegistry;
  mailbox: Mailbox;
}

async function withStore(
  fn: (store: Store, kv: Deno.Kv) => Promise<void>,
  overrides: Partial<typeof OPTIONS & Pick<MailboxOptions, "isReading" | "roomWaitMs">> = {},
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    const registry = new PeerRegistry(kv, OPTIONS);
    const mailbox = new Mailbox(kv, {
      ...OPTIONS,
      ...overrides,
      isLive: async (id, now) => await registry.getPeer(id, now) !== null,
      endedAt: (id, now) => registry.endedAt(id, now),
    });
    await fn({ registry, mailbox }, kv);
  } finally {
    kv.close();
  }
}

function sender(id: string): Sender {
  return { id, name: id, kind: "peer", summary: "", cwd: "/w" };
}

/** A registered peer with `texts` queued for it, one after another, in that order. */
async function peerWithMessages(store: Store, texts: string[], now: number) {
  const { peer } = await store.registry.register(REGISTRATION, now);
  for (const text of texts) await store.mailbox.enqueue(sender("s"), peer.id, text, now);
  return peer;
}

Deno.test("messages come back in send order and ack removes them", () =>
  withStore(async (store) => {
    const now = Date.now();
    const peer = await peerWithMessages(store, ["a", "b", "c"], now);
    const inbox = await store.mailbox.inbox(peer.id, now);
    assert.deepEqual(inbox.map((m) => m.text), ["a", "b", "c"]);
    assert.equal(await store.mailbox.ack(peer.id, [inbox[0]!.id, inbox[0]!.id, "unknown"]), 1);
    assert.deepEqual((await store.mailbox.inbox(peer.id, now)).map((m) => m.text), ["b", "c"]);
    assert.equal(await store.mailbox.queuedCount(peer.id), 2);
  }));

Deno.test("the queue limit refuses a message with a clear error and keeps the rest", () =>
  withStore(async (store) => {
    const now = Date.now();
    const { peer } = await store.registry.register(REGISTRATION, now);
    await Promise.all(
      ["1", "2", "3"].map((text) => store.mailbox.enqueue(sender("s"), peer.id, text, now)),
    );
    await assert.rejects(
      store.mailbox.enqueue(sender("s"), peer.id, "4", now),
      (error: unknown) =>
        error instanceof Refusal && error.code === "queue_full" &&
        /3 undelivered/.test(error.message),
    );
    assert.equal((await store.mailbox.inbox(peer.id, now)).length, 3);
  }));

Deno.test("a send to a reading recipient whose queue is full waits for room its acknowledgement makes", () =>
  withStore(async (store) => {
    const now = Date.now();
    const peer = await peerWithMessages(store, ["a", "b", "c"], now);
    let settled = false;
    const fourth = store.mailbox.enqueue(sender("s"), peer.id, "d", now).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(settled, false, "the send waits while the queue is full");
    const [first] = await store.mailbox.inbox(peer.id, now);
    assert.equal(await store.mailbox.ack(peer.id, [first!.id]), 1);
    assert.equal((await fourth).text, "d");
    assert.deepEqual((await store.mailbox.inbox(peer.id, now)).map((m) => m.text), ["b", "c", "d"]);
  }, { isReading: () => true, roomWaitMs: 10_000 }));

Deno.test("a send to a reading recipient that makes no room is refused once its wait runs out", () =>
  withStore(async (store) => {
    const now = Date.now();
    const peer = await peerWithMessages(store, ["a", "b", "c"], now);
    const started = performance.now();
    await assert.rejects(
      store.mailbox.enqueue(sender("s"), peer.id, "d", now),
      (error: unknown) => error instanceof Refusal && error.code === "queue_full",
    );
    assert.ok(performance.now() - started >= 190, "it waited for room first");
    assert.deepEqual((await store.mailbox.inbox(peer.id, now)).map((m) => m.text), ["a", "b", "c"]);
  }, { isReading: () => true, roomWaitMs: 200 }));

Deno.test("an expired peer is not listed even while KV still returns its key", () =>
  withStore(async (store, kv) => {
    const now = Date.now();
    const { peer } = await store.registry.register(REGISTRATION, now);
    assert.equal((await store.registry.listPeers(now)).length, 1);
    const later = now + OPTIONS.leaseMs + 1;
    assert.ok((await kv.get(["peer", peer.id])).value, "KV expiry is lazy: the key is still there");
    assert.equal((await store.registry.listPeers(later)).length, 0);
    assert.equal(await store.registry.getPeer(peer.id, later), null);
  }));

Deno.test("a repeated idempotency key queues the message once", () =>
  withStore(async (store) => {
    const now = Date.now();
    const { peer } = await store.registry.register(REGISTRATION, now);
    const first = await store.mailbox.enqueue(sender("s"), peer.id, "once", now, "key-1");
    const again = await store.mailbox.enqueue(sender("s"), peer.id, "once", now, "key-1");
    assert.equal(again.id, first.id);
    assert.equal((await store.mailbox.inbox(peer.id, now)).length, 1);
    const other = await store.mailbox.enqueue(sender("t"), peer.id, "once", now, "key-1");
    assert.notEqual(other.id, first.id, "keys are per sender");
  }));

Deno.test("a session resumes its peer id; a forged one gets a new id", () =>
  withStore(async (store) => {
    const now = Date.now();
    const first = await store.registry.register(REGISTRATION, now);
    const resumed = await store.registry.register({
      ...REGISTRATION,
      resume: { peer_id: first.peer.id, session: first.session },
    }, now);
    assert.equal(resumed.peer.id, first.peer.id);
    assert.equal(resumed.resumed, true);
    const forged = await store.registry.register({
      ...REGISTRATION,
      resume: { peer_id: first.peer.id, session: "x" },
    }, now);
    assert.notEqual(forged.peer.id, first.peer.id);
  }));

Deno.test("concurrent sends share one commit, keep the limit exact and dedupe keys within a batch", () =>
  withStore(async (store) => {
    const now = Date.now();
    const { peer } = await store.registry.register(REGISTRATION, now);
    const results = await Promise.allSettled([
      store.mailbox.enqueue(sender("s"), peer.id, "same", now, "k"),
      store.mailbox.enqueue(sender("s"), peer.id, "same", now, "k"),
      ...Array.from(
        { length: 8 },
        (_, i) => store.mailbox.enqueue(sender("s"), peer.id, `m${i}`, now),
      ),
    ]);
    const accepted = results.filter((r) => r.status === "fulfilled") as PromiseFulfilledResult<
      { id: string }
    >[];
    assert.equal(accepted[0]!.value.id, accepted[1]!.value.id, "one message for the repeated key");
    const inbox = await store.mailbox.inbox(peer.id, now);
    assert.equal(inbox.length, OPTIONS.maxQueued);
    assert.deepEqual(inbox.map((m) => m.text), ["same", "m0", "m1"]);
    assert.equal(
      results.filter((r) => r.status === "rejected").length,
      6,
      "two sends share one message",
    );
    assert.equal(await store.mailbox.queuedCount(peer.id), OPTIONS.maxQueued);
  }));

Deno.test("32 KiB of any UTF-8 text fits, and one sender's message never fails another's", async () => {
  await withStore(async (store) => {
    const now = Date.now();
    const { peer } = await store.registry.register(REGISTRATION, now);
    // 32,765 ASCII characters and one "€": 32,768 UTF-8 bytes, a two-byte string in V8.
    const euro = "x".repeat(32_765) + "€";
    assert.equal(new TextEncoder().encode(euro).byteLength, 32 * 1024);
    const sends = [
      store.mailbox.enqueue(sender("big"), peer.id, euro, now),
      ...Array.from(
        { length: 40 },
        (_, i) => store.mailbox.enqueue(sender("s"), peer.id, `m${i}`, now),
      ),
    ];
    const results = await Promise.allSettled(sends);
    const failed = results.filter((result) => result.status === "rejected");
    assert.equal(
      failed.length,
      0,
      String((failed[0] as PromiseRejectedResult | undefined)?.reason),
    );
    const inbox = await store.mailbox.inbox(peer.id, now);
    assert.equal(inbox.length, 41);
    assert.equal(inbox[0]!.text, euro);
  }, { maxQueued: 100 });
});

Deno.test("ids issued after a restart sort after every earlier id, even when the clock stepped back", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const start = async () => {
      const hours = { leaseMs: 10 * 3_600_000, retentionMs: 10 * 3_600_000 };
      const registry = new PeerRegistry(kv, { ...OPTIONS, ...hours });
      const mailbox = new Mailbox(kv, {
        ...OPTIONS,
        ...hours,
        maxQueued: 100,
        isLive: async (id, now) => await registry.getPeer(id, now) !== null,
        endedAt: (id, now) => registry.endedAt(id, now),
      });
      await mailbox.restoreOrder();
      return { registry, mailbox };
    };
    const now = Date.now();
    const first = await start();
    const { peer } = await first.registry.register(REGISTRATION, now);
    for (const text of ["a", "b", "c"]) {
      await first.mailbox.enqueue(sender("s"), peer.id, text, now);
    }
    // A new broker on the same database, with the clock an hour behind.
    const second = await start();
    const earlier = now - 3_600_000;
    for (const text of ["d", "e"]) {
      await second.mailbox.enqueue(sender("s"), peer.id, text, earlier);
    }
    const inbox = await second.mailbox.inbox(peer.id, now);
    assert.deepEqual(inbox.map((message) => message.text), ["a", "b", "c", "d", "e"]);
  } finally {
    kv.close();
  }
});

Deno.test("sends waiting for their commit are capped per recipient: the rest are refused at once", () =>
  withStore(async (store) => {
    const now = Date.now();
    const { peer } = await store.registry.register(REGISTRATION, now);
    // The first send is committed at once; the next ones wait behind it, up to the limit.
    const sends = Array.from(
      { length: 50 },
      (_, i) => store.mailbox.enqueue(sender(`s${i}`), peer.id, "x".repeat(1000), now),
    );
    const results = await Promise.allSettled(sends);
    const refusedAtOnce = results.filter((result) =>
      result.status === "rejected" && result.reason instanceof Refusal &&
      result.reason.code === "queue_full" && /waiting to be queued/.test(result.reason.message)
    );
    assert.equal(refusedAtOnce.length, 50 - 1 - OPTIONS.maxQueued);
    assert.equal((await store.mailbox.inbox(peer.id, now)).length, OPTIONS.maxQueued);
  }));

Deno.test("an inbox read to its end keeps no counter keys, and counts right when mail comes again", () =>
  withStore(async (store, kv) => {
    const now = Date.now();
    const { peer } = await store.registry.register(REGISTRATION, now);
    const first = await Promise.all(
      ["a", "b"].map((text) => store.mailbox.enqueue(sender("s"), peer.id, text, now)),
    );
    assert.equal(await store.mailbox.ack(peer.id, [first[0]!.id]), 1);
    assert.equal(await store.mailbox.queuedCount(peer.id), 1);
    assert.equal(await store.mailbox.ack(peer.id, [first[1]!.id]), 1);
    const counters = await kv.getMany([enqueuedCounter(peer.id), removedCounter(peer.id)]);
    assert.deepEqual(counters.map((entry) => entry.value), [null, null]);
    assert.equal(await store.mailbox.queuedCount(peer.id), 0);
    await store.mailbox.enqueue(sender("s"), peer.id, "c", now);
    assert.equal(await store.mailbox.queuedCount(peer.id), 1);
    assert.deepEqual((await store.mailbox.inbox(peer.id, now)).map((m) => m.text), ["c"]);
  }));

Deno.test("a full inbox of the largest messages is claimed a bounded page at a time, each message once", () =>
  withStore(async (store) => {
    const now = Date.now();
    const { peer } = await store.registry.register(REGISTRATION, now);
    const text = "\u0001".repeat(32_000);
    const sent = [];
    for (let i = 0; i < 60; i++) {
      sent.push((await store.mailbox.enqueue(sender("s"), peer.id, text, now)).id);
    }
    const claimed: string[] = [];
    for (let round = 0; round < 60; round++) {
      const page = await store.mailbox.claim(peer.id, now, 30_000);
      const bytes = page.messages.reduce((total, message) => total + message.text.length, 0);
      assert.ok(bytes <= CLAIM_MAX_BYTES, `a claim took ${bytes} bytes of text`);
      claimed.push(...page.messages.map((message) => message.id));
      if (!page.more) break;
      assert.ok(page.messages.length > 0, "a page that leaves more takes some");
    }
    assert.deepEqual(claimed, sent, "every message claimed once, in order");
    assert.equal((await store.mailbox.claim(peer.id, now, 30_000)).messages.length, 0);
  }, { maxQueued: 100 }));
