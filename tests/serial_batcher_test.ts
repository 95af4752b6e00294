/**
 * SerialBatcher: one batch in flight, order kept, each item settled on its own.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fulfilled, rejected, SerialBatcher } from "../broker/serial_batcher.ts";

Deno.test("items added while a batch is in flight go together into the next batch, in order", async () => {
  const batches: number[][] = [];
  let release: () => void = () => {};
  const batcher = new SerialBatcher<number, number>({
    async commit(items) {
      batches.push(items);
      if (batches.length === 1) await new Promise<void>((resolve) => release = resolve);
      return items.map((item) => fulfilled(item * 10));
    },
  });
  const first = batcher.add(1);
  const rest = [batcher.add(2), batcher.add(3), batcher.add(4)];
  assert.equal(batcher.idle, false);
  release();
  assert.deepEqual(await Promise.all([first, ...rest]), [10, 20, 30, 40]);
  assert.deepEqual(batches, [[1], [2, 3, 4]]);
  assert.equal(batcher.idle, true);
});

Deno.test("each item settles on its own, a thrown commit fails only its batch, take sizes batches", async () => {
  const batches: string[][] = [];
  let idle = 0;
  const batcher = new SerialBatcher<string, string>({
    commit(items) {
      batches.push(items);
      if (items.includes("boom")) return Promise.reject(new Error("commit failed"));
      return Promise.resolve(
        items.map((item) =>
          item === "bad" ? rejected(new Error(`refused ${item}`)) : fulfilled(item)
        ),
      );
    },
    take: () => 2,
    onIdle: () => idle++,
  });
  const outcomes = await Promise.allSettled(
    ["a", "bad", "boom", "c", "d"].map((item) => batcher.add(item)),
  );
  assert.deepEqual(batches, [["a"], ["bad", "boom"], ["c", "d"]]);
  assert.deepEqual(outcomes.map((outcome) => outcome.status), [
    "fulfilled",
    "rejected",
    "rejected",
    "fulfilled",
    "fulfilled",
  ]);
  assert.match(String((outcomes[2] as PromiseRejectedResult).reason), /commit failed/);
  assert.equal(idle, 1);
});

Deno.test("a commit that gives too few outcomes rejects the items it left out", async () => {
  const batcher = new SerialBatcher<number, number>({
    commit: () => Promise.resolve([]),
  });
  await assert.rejects(batcher.add(1), /no outcome/);
});

Deno.test("with a linger, items added within it go into one batch, and later ones into the next", async () => {
  const batches: number[][] = [];
  const batcher = new SerialBatcher<number, number>({
    commit(items) {
      batches.push(items);
      return Promise.resolve(items.map((item) => fulfilled(item)));
    },
    lingerMs: 30,
  });
  const first = [batcher.add(1)];
  await new Promise((resolve) => setTimeout(resolve, 5));
  first.push(batcher.add(2), batcher.add(3));
  assert.deepEqual(await Promise.all(first), [1, 2, 3]);
  assert.deepEqual(batches, [[1, 2, 3]], "the first item waited for the others");
  assert.equal(await batcher.add(4), 4);
  assert.deepEqual(batches, [[1, 2, 3], [4]]);
  assert.equal(batcher.idle, true);
});
