/**
 * Delivery in process, with the broker's claim and acknowledgement stubbed: what happens to a
 * shown message when the broker cannot take its acknowledgement (a full disk, a restart).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Delivery } from "../mcp/delivery.ts";
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
    claim: () => Promise.resolve([]),
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
