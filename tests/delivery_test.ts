/**
 * The MCP server's delivery, alone: acknowledgements say how each message was shown, and
 * closing waits for them, so a message pushed just before the server exits still counts as
 * delivered (and is not shown again).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Delivery } from "../mcp/delivery.ts";
import type { Message, ShownVia } from "../broker/protocol.ts";

function message(id: string): Message {
  return {
    id,
    to_id: "bbbbbbbb",
    from_id: "aaaaaaaa",
    from_kind: "peer",
    from_summary: "",
    from_cwd: "/",
    text: `text of ${id}`,
    sent_at: "2026-12-01T10:00:00.000Z",
  } as Message;
}

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
