/**
 * Delivery in process, with the broker's claim and acknowledgement stubbed: what happens to a
 * shown message when the broker cannot take its acknowledgement (a full disk, a restart), and
 * what it holds when the MCP client takes channel notifications slower than the broker sends.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Delivery, MAX_PUSHES_IN_FLIGHT } from "../mcp/delivery.ts";
import type { Message } from "../broker/protocol.ts";
import { waitFor } from "./_helpers.ts";

function message(id: string): Message {
  return {
    id,
    to_id: "bbbbbbbb",
    from_id: "aaaaaaaa",
    from_kind: "peer",
    from_summary: "",
    from_cwd: "/w",
    text: `text of ${id}`,
    sent_at: new Date(0).toISOString(),
  };
}

Deno.test("an acknowledgement the broker could not take is sent again until it is", async () => {
  const acks: string[][] = [];
  let failures = 2;
  const shown: string[] = [];
  const delivery = new Delivery({
    channel: true,
    notify: (notification) => {
      shown.push(notification.content);
      return Promise.resolve();
    },
    claim: () => Promise.resolve({ messages: [], more: false }),
    ack: (ids) => {
      acks.push(ids);
      return failures-- > 0
        ? Promise.reject(new Error("The broker cannot write to its database: the disk is full"))
        : Promise.resolve();
    },
    ackRetryMs: 20,
  });
  delivery.receive(message("m1"));
  await delivery.flushed();
  await waitFor(() => acks.length === 3, 5_000, "the third acknowledgement");
  assert.deepEqual(acks, [["m1"], ["m1"], ["m1"]]);
  assert.deepEqual(shown, ["text of m1"], "shown once");
  // Once it went through, nothing is sent again.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(acks.length, 3);
});

/** Whether `promise` settles within a few turns of the event loop. */
async function settlesSoon(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  for (let turn = 0; turn < 5 && !settled; turn++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return settled;
}

Deno.test("a client that takes no notifications holds the stream after a few, and releases it as it takes them", async () => {
  const written: string[] = [];
  const releases: (() => void)[] = [];
  const acked: string[] = [];
  const delivery = new Delivery({
    channel: true,
    // A client that does not read: each write waits until the test lets it through.
    notify: (notification) =>
      new Promise<void>((resolve) => {
        releases.push(() => {
          written.push(notification.meta.message_id!);
          resolve();
        });
      }),
    claim: () => Promise.resolve({ messages: [], more: false }),
    ack: (ids) => {
      acked.push(...ids);
      return Promise.resolve();
    },
  });
  let taken = 0;
  let held = Promise.resolve();
  while (taken < 100 && await settlesSoon(held)) held = delivery.receive(message(`m${taken++}`));
  assert.equal(taken, MAX_PUSHES_IN_FLIGHT, "the stream is held once the pushes are in flight");
  assert.equal(await settlesSoon(held), false, "still held while the client takes nothing");
  assert.equal(releases.length, 1, "one notification is being written, the rest wait in order");

  releases.shift()!();
  assert.equal(await settlesSoon(held), true, "released once the client took one");
  while (written.length < MAX_PUSHES_IN_FLIGHT) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    releases.shift()?.();
  }
  await delivery.flushed();
  assert.deepEqual(written, Array.from({ length: MAX_PUSHES_IN_FLIGHT }, (_, i) => `m${i}`));
  assert.ok(await settlesSoon(delivery.receive(message(`m${written.length}`))), "room again");
  releases.shift()!();
  await delivery.flushed();
  assert.equal(written.length, MAX_PUSHES_IN_FLIGHT + 1);
});

Deno.test("without channels a stream of messages is only noted, never held", async () => {
  const delivery = new Delivery({
    channel: false,
    notify: () => Promise.reject(new Error("no channel")),
    claim: () => Promise.resolve({ messages: [message("m1")], more: false }),
    ack: () => Promise.resolve(),
  });
  const received = Array.from(
    { length: 3_000 },
    (_, index) => delivery.receive(message(`m${index}`)),
  );
  assert.ok(await settlesSoon(Promise.all(received)));
  const result = await delivery.attachWaiting({ content: [{ type: "text", text: "ok" }] });
  assert.equal(result.content.length, 2, "the waiting hint survived the cap");
});
