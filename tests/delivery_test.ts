/**
 * The MCP server's delivery, alone: acknowledgements say how each message was shown, closing
 * waits for them (a message pushed just before the server exits still counts as delivered), and
 * an acknowledgement the broker could not take (a full disk, a restart) is sent again, and what
 * it holds when the MCP client takes channel notifications slower than the broker sends.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Delivery, MAX_PUSHES_IN_FLIGHT } from "../mcp/delivery.ts";
import type { Message, ShownVia } from "../broker/protocol.ts";
import { waitFor } from "./_helpers.ts";

function message(id: string): Message {
  return {
    id,
    to_id: "bbbbbbbb",
    from_id: "aaaaaaaa",
    from_name: "alice",
    from_kind: "peer",
    from_summary: "",
    from_cwd: "/w",
    text: `text of ${id}`,
    sent_at: new Date(0).toISOString(),
    thread_id: id,
    reply_to: null,
    broadcast: null,
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
    ack: (ids, _via) => {
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

Deno.test("settled() waits for the acknowledgement of a pushed message, which says channel", async () => {
  const acks: [string[], ShownVia][] = [];
  const release = Promise.withResolvers<void>();
  const delivery = new Delivery({
    channel: true,
    notify: () => Promise.resolve(),
    claim: () => Promise.resolve({ messages: [], more: false }),
    ack: async (ids, via) => {
      await release.promise;
      acks.push([ids, via]);
    },
  });
  delivery.receive(message("m1"));
  let settled = false;
  const settling = delivery.settled().then(() => settled = true);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(settled, false, "not settled while the acknowledgement is on its way");
  release.resolve();
  await settling;
  assert.deepEqual(acks, [[["m1"], "channel"]]);
});

Deno.test("messages claimed for a tool result are acknowledged as tool_result, a re-streamed one the same way", async () => {
  const acks: [string[], ShownVia][] = [];
  const delivery = new Delivery({
    channel: false,
    notify: () => Promise.resolve(),
    claim: () => Promise.resolve({ messages: [message("m2")], more: false }),
    ack: (ids, via) => {
      acks.push([ids, via]);
      return Promise.resolve();
    },
  });
  delivery.receive(message("m2"));
  assert.match(await delivery.presentNew(), /text of m2/);
  await delivery.settled();
  // The broker streams it again (a reconnect): it is only acknowledged again, the same way.
  delivery.receive(message("m2"));
  await delivery.settled();
  assert.deepEqual(acks, [[["m2"], "tool_result"], [["m2"], "tool_result"]]);
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

Deno.test("messages pushed in a run are acknowledged together while the broker answers at once, one by one while it is slow", async () => {
  const acks: string[][] = [];
  let ackMs = 0;
  const delivery = new Delivery({
    channel: true,
    notify: () => Promise.resolve(),
    claim: () => Promise.resolve({ messages: [], more: false }),
    ack: async (ids) => {
      acks.push(ids);
      await new Promise((resolve) => setTimeout(resolve, ackMs));
    },
    ackLingerMs: 150,
  });
  const run = async (prefix: string) => {
    for (let i = 0; i < 3; i++) {
      await delivery.receive(message(`${prefix}${i}`));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await delivery.settled();
  };
  await run("fast");
  assert.deepEqual(acks, [["fast0", "fast1", "fast2"]], "one acknowledgement for the run");
  // The broker now takes longer than the linger to answer: nothing waits for company.
  ackMs = 200;
  acks.length = 0;
  await run("warm");
  acks.length = 0;
  await run("slow");
  assert.deepEqual(acks[0], ["slow0"], "the first went at once");
  assert.deepEqual(acks.flat(), ["slow0", "slow1", "slow2"]);
});

Deno.test("a copy re-streamed before its push is written is left to that push: no acknowledgement if it fails", async () => {
  for (const pushWorks of [false, true]) {
    const acked: string[] = [];
    const shown: string[] = [];
    // The MCP client has not initialized yet (or reads slowly): pushes wait.
    const ready = Promise.withResolvers<void>();
    const delivery = new Delivery({
      channel: true,
      clientReady: ready.promise,
      notify: (notification) => {
        shown.push(notification.content);
        return pushWorks ? Promise.resolve() : Promise.reject(new Error("the client went away"));
      },
      claim: () => Promise.resolve({ messages: [], more: false }),
      ack: (ids) => {
        acked.push(...ids);
        return Promise.resolve();
      },
      ackLingerMs: 0,
    });
    await delivery.receive(message("m1"));
    // The stream reconnects (a broker restart) and the broker streams m1 again.
    await delivery.receive(message("m1"));
    // An acknowledgement of the copy would go out at once (no linger): give it the chance.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(acked, [], "nothing acknowledged before a push was written");
    ready.resolve();
    await delivery.flushed();
    await delivery.settled();
    assert.deepEqual(shown, ["text of m1"], "pushed once");
    assert.deepEqual(acked, pushWorks ? ["m1"] : [], "acknowledged only once shown");
  }
});
