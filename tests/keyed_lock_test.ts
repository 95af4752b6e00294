/**
 * KeyedLock, and what it is for: a broadcast and the group commits of its recipients never
 * interleave, so a recipient's queue limit stays exact and its push stream (which reads after
 * the last id it sent) sees every message once, in id order. On an in-memory KV with the real
 * inbox stream.
 *
 * @module
 */
import assert from "node:assert/strict";
import { KeyedLock } from "../broker/keyed_lock.ts";
import { PeerRegistry } from "../broker/peers.ts";
import { Mailbox, type Sender } from "../broker/mailbox.ts";
import { openInboxStream } from "../broker/inbox.ts";
import { waitFor } from "./_helpers.ts";

Deno.test("actions holding a common key run one at a time, others at once, overlapping sets never deadlock", async () => {
  const lock = new KeyedLock();
  const log: string[] = [];
  const step = (name: string, ms: number) => async () => {
    log.push(`${name}+`);
    await new Promise((resolve) => setTimeout(resolve, ms));
    log.push(`${name}-`);
  };
  await Promise.all([
    lock.run(["a", "b"], step("ab", 20)),
    lock.run(["b", "a"], step("ba", 5)),
    lock.run(["c"], step("c", 1)),
    lock.run(["a"], step("a", 1)),
  ]);
  assert.deepEqual(log.filter((entry) => !entry.startsWith("c")), [
    "ab+",
    "ab-",
    "ba+",
    "ba-",
    "a+",
    "a-",
  ]);
  assert.ok(log.indexOf("c-") < log.indexOf("ab-"), "an action on another key does not wait");
  // A failing action releases its keys.
  await assert.rejects(lock.run(["a"], () => Promise.reject(new Error("boom"))), /boom/);
  assert.equal(await lock.run(["a"], () => Promise.resolve(1)), 1);
});

async function twoPeers(maxQueued: number) {
  const kv = await Deno.openKv(":memory:");
  const options = { leaseMs: 60_000, retentionMs: 60_000, maxQueued, maxPeers: 10 };
  const registry = new PeerRegistry(kv, options);
  const mailbox = new Mailbox(kv, {
    ...options,
    isLive: async (id, now) => await registry.getPeer(id, now) !== null,
    endedAt: (id, now) => registry.endedAt(id, now),
  });
  const fields = { pid: 1, cwd: "/w", git_root: null, repo: null, branch: null, tty: null };
  const now = Date.now();
  const [r, a] = await Promise.all([
    registry.register({ ...fields, summary: "", channel: true }, now),
    registry.register({ ...fields, summary: "", channel: true }, now),
  ]);
  return { kv, mailbox, r: r!, a: a! };
}

const sender = (id: string): Sender => ({ id, name: id, kind: "peer", summary: "", cwd: "/w" });
const toAll = { idempotencyKey: undefined, place: { reply_to: null, broadcast: "@machine" } };

Deno.test("a broadcast and a recipient's own sends never overrun its queue limit together", async () => {
  const { kv, mailbox, r, a } = await twoPeers(5);
  try {
    const outcomes = await Promise.allSettled(
      Array.from(
        { length: 12 },
        (_, i) =>
          i % 2 === 0
            ? mailbox.enqueue(sender(a.peer.id), r.peer.id, `u${i}`, Date.now())
            : mailbox.broadcast(sender("b"), [r.peer.id], `b${i}`, Date.now(), toAll),
      ),
    );
    const accepted = outcomes.filter((outcome) =>
      outcome.status === "fulfilled" &&
      !("skipped" in (outcome.value as object) &&
        (outcome.value as { skipped: string[] }).skipped.length > 0)
    );
    const queued = await mailbox.inbox(r.peer.id, Date.now());
    assert.equal(queued.length, 5, "exactly the limit is queued");
    assert.equal(accepted.length, 5, "every other send was refused");
    assert.equal(await mailbox.queuedCount(r.peer.id), 5);
  } finally {
    kv.close();
  }
});

Deno.test("broadcasts among concurrent sends reach the push stream once each, in id order", async () => {
  const { kv, mailbox, r, a } = await twoPeers(1000);
  const stream = openInboxStream(mailbox, r.peer.id, { onClose: () => {} });
  const seen: string[] = [];
  const reading = (async () => {
    let buffered = "";
    for await (const chunk of stream.body.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        const event = JSON.parse(line);
        if (event.type === "message") seen.push(event.message.id);
      }
    }
  })();
  try {
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      sends.push(mailbox.enqueue(sender(a.peer.id), r.peer.id, `u${i}`, Date.now()));
      if (i % 20 === 0) {
        sends.push(
          mailbox.broadcast(sender("b"), [a.peer.id, r.peer.id], `b${i}`, Date.now(), toAll),
        );
      }
      if (i % 7 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await Promise.all(sends);
    await waitFor(() => seen.length >= 210, 10_000, "every message on the stream");
    assert.equal(seen.length, 210);
    assert.equal(new Set(seen).size, 210, "none twice");
    assert.deepEqual(seen, [...seen].sort(), "in id order");
  } finally {
    stream.close();
    await reading.catch(() => {});
    kv.close();
  }
});
