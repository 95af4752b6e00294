/**
 * Delivery on its own (fake broker calls): a message the stream brings again is shown once,
 * and what a server remembers to recognise copies stays bounded however many messages arrive,
 * so a session that runs all day does not grow (issue 11).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Message } from "../broker/protocol.ts";
import { Delivery } from "../mcp/delivery.ts";
import { waitFor } from "./_helpers.ts";

function message(n: number): Message {
  return {
    id: `0mx4ceze7${String(n).padStart(4, "0")}abcd`,
    to_id: "k3x9ab12",
    from_id: "p0p0p0p0",
    from_name: "p0",
    from_kind: "peer",
    from_summary: "",
    from_cwd: "/src",
    text: `message ${n}`,
    sent_at: "2026-12-01T10:00:00.000Z",
    thread_id: `0mx4ceze7${String(n).padStart(4, "0")}abcd`,
    reply_to: null,
    broadcast: null,
  };
}

function channelDelivery(ack: (ids: string[]) => Promise<void>) {
  const shown: string[] = [];
  const acked: string[] = [];
  const delivery = new Delivery({
    channel: true,
    notify: (notification) => {
      shown.push(notification.content);
      return Promise.resolve();
    },
    claim: () => Promise.resolve({ messages: [], more: false }),
    ack: async (ids, _via) => {
      await ack(ids);
      acked.push(...ids);
    },
    ackRetryMs: 20,
  });
  return { delivery, shown, acked };
}

Deno.test("a message streamed again after it was shown and acknowledged is only acknowledged", async () => {
  const { delivery, shown, acked } = channelDelivery(() => Promise.resolve());
  delivery.receive(message(1));
  await waitFor(() => acked.length === 1, 5_000, "the acknowledgement");
  delivery.receive(message(1));
  await waitFor(() => acked.length === 2, 5_000, "the second acknowledgement");
  assert.deepEqual(shown, ["message 1"]);
});

Deno.test("a copy that arrives while the acknowledgement is failing is not shown again", async () => {
  let failing = true;
  const { delivery, shown, acked } = channelDelivery(() =>
    failing ? Promise.reject(new Error("broker gone")) : Promise.resolve()
  );
  delivery.receive(message(1));
  await delivery.flushed();
  await new Promise((resolve) => setTimeout(resolve, 10));
  delivery.receive(message(1));
  failing = false;
  delivery.receive(message(1));
  await delivery.flushed();
  // The retried acknowledgement goes through; nothing is left waiting.
  await waitFor(() => acked.length > 0, 5_000, "an acknowledgement that went through");
  await delivery.settled();
  assert.deepEqual(shown, ["message 1"]);
});

Deno.test("the ids kept to recognise copies stay bounded over 5,000 acknowledged messages", async () => {
  const { delivery, shown, acked } = channelDelivery(() => Promise.resolve());
  for (let n = 0; n < 5_000; n++) delivery.receive(message(n));
  await waitFor(() => acked.length === 5_000, 10_000, "every acknowledgement");
  assert.equal(shown.length, 5_000);
  assert.ok(delivery.rememberedIds <= 1_000, `${delivery.rememberedIds} ids kept`);
  // The most recent ones are still recognised.
  delivery.receive(message(4_999));
  await waitFor(() => acked.length === 5_001, 5_000, "the copy's acknowledgement");
  assert.equal(shown.length, 5_000);
});
