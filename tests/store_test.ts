/**
 * Unit tests of the KV store on an in-memory Deno KV (disposing the KV closes it).
 *
 * @module
 */
import assert from "node:assert/strict";
import { BrokerStore, type Sender, StoreError } from "../broker/store.ts";

const OPTIONS = { leaseMs: 1_000, retentionMs: 60_000, maxQueued: 3, maxPeers: 10 };
const FIELDS = { pid: 1, cwd: "/w", git_root: null, repo: null, tty: null, summary: "" };

function sender(id: string): Sender {
  return { id, kind: "peer", summary: "", cwd: "/w" };
}

Deno.test("messages come back in send order and ack removes them", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new BrokerStore(kv, OPTIONS);
  const now = Date.now();
  const { peer } = await store.register(FIELDS, now);
  for (const text of ["a", "b", "c"]) await store.enqueue(sender("s"), peer.id, text, now);
  const inbox = await store.inbox(peer.id, now);
  assert.deepEqual(inbox.map((m) => m.text), ["a", "b", "c"]);
  assert.equal(await store.ack(peer.id, [inbox[0]!.id, inbox[0]!.id, "unknown"]), 1);
  assert.deepEqual((await store.inbox(peer.id, now)).map((m) => m.text), ["b", "c"]);
  assert.equal(await store.queuedCount(peer.id), 2);
});

Deno.test("the queue limit refuses a message with a clear error and keeps the rest", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new BrokerStore(kv, OPTIONS);
  const now = Date.now();
  const { peer } = await store.register(FIELDS, now);
  await Promise.all(
    ["1", "2", "3"].map((text) => store.enqueue(sender("s"), peer.id, text, now)),
  );
  await assert.rejects(
    store.enqueue(sender("s"), peer.id, "4", now),
    (error: unknown) =>
      error instanceof StoreError && error.kind === "limit" &&
      /3 undelivered/.test(error.message),
  );
  assert.equal((await store.inbox(peer.id, now)).length, 3);
});

Deno.test("an expired peer is not listed even while KV still returns its key", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new BrokerStore(kv, OPTIONS);
  const now = Date.now();
  const { peer } = await store.register(FIELDS, now);
  assert.equal((await store.listPeers(now)).length, 1);
  const later = now + OPTIONS.leaseMs + 1;
  assert.ok((await kv.get(["peer", peer.id])).value, "KV expiry is lazy: the key is still there");
  assert.equal((await store.listPeers(later)).length, 0);
  assert.equal(await store.getPeer(peer.id, later), null);
});

Deno.test("a repeated idempotency key queues the message once", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new BrokerStore(kv, OPTIONS);
  const now = Date.now();
  const { peer } = await store.register(FIELDS, now);
  const first = await store.enqueue(sender("s"), peer.id, "once", now, "key-1");
  const again = await store.enqueue(sender("s"), peer.id, "once", now, "key-1");
  assert.equal(again.id, first.id);
  assert.equal((await store.inbox(peer.id, now)).length, 1);
  const other = await store.enqueue(sender("t"), peer.id, "once", now, "key-1");
  assert.notEqual(other.id, first.id, "keys are per sender");
});

Deno.test("a session resumes its peer id; a forged one gets a new id", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new BrokerStore(kv, OPTIONS);
  const now = Date.now();
  const first = await store.register(FIELDS, now);
  const resumed = await store.register({
    ...FIELDS,
    resume: { peer_id: first.peer.id, session: first.session },
  }, now);
  assert.equal(resumed.peer.id, first.peer.id);
  assert.equal(resumed.resumed, true);
  const forged = await store.register({
    ...FIELDS,
    resume: { peer_id: first.peer.id, session: "x" },
  }, now);
  assert.notEqual(forged.peer.id, first.peer.id);
});

Deno.test("concurrent sends share one commit, keep the limit exact and dedupe keys within a batch", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new BrokerStore(kv, OPTIONS);
  const now = Date.now();
  const { peer } = await store.register(FIELDS, now);
  const results = await Promise.allSettled([
    store.enqueue(sender("s"), peer.id, "same", now, "k"),
    store.enqueue(sender("s"), peer.id, "same", now, "k"),
    ...Array.from({ length: 8 }, (_, i) => store.enqueue(sender("s"), peer.id, `m${i}`, now)),
  ]);
  const accepted = results.filter((r) => r.status === "fulfilled") as PromiseFulfilledResult<
    { id: string }
  >[];
  assert.equal(accepted[0]!.value.id, accepted[1]!.value.id, "one message for the repeated key");
  const inbox = await store.inbox(peer.id, now);
  assert.equal(inbox.length, OPTIONS.maxQueued);
  assert.deepEqual(inbox.map((m) => m.text), ["same", "m0", "m1"]);
  assert.equal(
    results.filter((r) => r.status === "rejected").length,
    6,
    "two sends share one message",
  );
  assert.equal(await store.queuedCount(peer.id), OPTIONS.maxQueued);
});
