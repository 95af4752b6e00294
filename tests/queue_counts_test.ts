/**
 * QueueCounts: the queued count of each recipient, read once from Deno KV and then kept in
 * memory through every committed change; a read that a change overlapped is never kept, and a
 * change whose commit threw forgets the count. On an in-memory KV.
 *
 * @module
 */
import assert from "node:assert/strict";
import { QueueCounts } from "../broker/queue_counts.ts";
import { enqueuedCounter, removedCounter } from "../broker/kv_keys.ts";

/** A KV whose getMany calls are counted. */
function counted(kv: Deno.Kv): { kv: Deno.Kv; reads: () => number } {
  let reads = 0;
  const proxy = new Proxy(kv, {
    get(target, name) {
      if (name === "getMany") {
        return (...args: Parameters<Deno.Kv["getMany"]>) => {
          reads++;
          return target.getMany(...args);
        };
      }
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { kv: proxy, reads: () => reads };
}

/** Adds `delta` to the counters of `toId` the way the mailbox does. */
function write(kv: Deno.Kv, toId: string, delta: number) {
  return async () => {
    const op = kv.atomic();
    if (delta > 0) op.sum(enqueuedCounter(toId), BigInt(delta));
    else op.sum(removedCounter(toId), BigInt(-delta));
    const ok = (await op.commit()).ok;
    return { result: ok, deltas: ok ? new Map([[toId, delta]]) : null };
  };
}

Deno.test("a count is read once, then follows every committed change without reading", async () => {
  using store = await Deno.openKv(":memory:");
  const { kv, reads } = counted(store);
  await kv.atomic().sum(enqueuedCounter("r"), 5n).sum(removedCounter("r"), 2n).commit();
  const counts = new QueueCounts(kv);
  assert.equal(counts.known("r"), undefined);
  assert.equal(await counts.count("r"), 3);
  assert.equal(reads(), 1);
  await counts.change(["r"], write(kv, "r", 4));
  await counts.change(["r"], write(kv, "r", -6));
  assert.equal(await counts.count("r"), 1);
  assert.equal(counts.known("r"), 1);
  assert.equal(reads(), 1, "no second read");
});

Deno.test("a read that a change overlapped is not kept: the next count reads again", async () => {
  using store = await Deno.openKv(":memory:");
  const { kv, reads } = counted(store);
  const counts = new QueueCounts(kv);
  const gate = Promise.withResolvers<void>();
  // A change in flight: whether the read sees it is down to timing.
  const changing = counts.change(["r"], async () => {
    await gate.promise;
    return await write(kv, "r", 2)();
  });
  const during = await counts.count("r");
  assert.ok(during === 0 || during === 2, `read ${during}`);
  gate.resolve();
  await changing;
  assert.equal(counts.known("r"), undefined, "the overlapped read was not kept");
  assert.equal(await counts.count("r"), 2);
  assert.equal(reads(), 2);
  assert.equal(counts.known("r"), 2);
});

Deno.test("a change whose commit threw forgets the count, which is read again", async () => {
  using store = await Deno.openKv(":memory:");
  const { kv, reads } = counted(store);
  const counts = new QueueCounts(kv);
  assert.equal(await counts.count("r"), 0);
  await assert.rejects(
    counts.change(["r"], async () => {
      await write(kv, "r", 3)();
      throw new Error("the disk is full");
    }),
    /disk is full/,
  );
  assert.equal(counts.known("r"), undefined);
  assert.equal(await counts.count("r"), 3, "the write that did commit is counted");
  assert.equal(reads(), 2);
  // A commit that did not go through (a failed check) changes nothing.
  await counts.change(["r"], () => Promise.resolve({ result: false, deltas: null }));
  assert.equal(counts.known("r"), 3);
});

Deno.test("nextChange resolves when a change of that recipient settles, or when its time is up", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const counts = new QueueCounts(kv);
    let woken = false;
    const waited = counts.nextChange("a", 10_000).then(() => woken = true);
    await counts.change(["b"], write(kv, "b", 1));
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(woken, false, "another recipient's change wakes no one");
    await counts.change(["a"], write(kv, "a", 1));
    await waited;
    assert.equal(woken, true);
    const started = performance.now();
    await counts.nextChange("a", 30);
    assert.ok(performance.now() - started >= 25, "with no change it waits out its time");
  } finally {
    kv.close();
  }
});
