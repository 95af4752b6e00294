/**
 * The MCP server's delivery, alone: acknowledgements say how each message was shown, closing
 * waits for them (a message pushed just before the server exits still counts as delivered), and
 * an acknowledgement the broker could not take (a full disk, a restart) is sent again.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Delivery } from "../mcp/delivery.ts";
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
    claim: () => Promise.resolve([]),
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
    claim: () => Promise.resolve([]),
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
    claim: () => Promise.resolve([message("m2")]),
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
