/**
 * Unit tests of the MCP server's send queue against a fake connection that records every
 * POST /send_batch and answers when the test says so. No broker, no process.
 *
 * @module
 */
import assert from "node:assert/strict";
import { SendQueue } from "../mcp/send_queue.ts";
import type { PeerConnection } from "../mcp/connection.ts";
import { type BrokerClient, BrokerError } from "../broker/client.ts";
import type {
  BatchedSend,
  BatchResult,
  SendBatchRequest,
  SendBatchResponse,
  SendResponse,
} from "../broker/protocol.ts";

/** One POST /send_batch the queue made, answered by the test. */
interface Batch {
  messages: BatchedSend[];
  reply: (results: BatchResult[]) => void;
  fail: (error: unknown) => void;
}

/** A connection whose batches wait for the test to answer them. */
class FakeConnection {
  batches: Batch[] = [];
  inFlight = 0;
  maxInFlight = 0;
  #arrived: (() => void) | undefined;

  call<T>(action: (client: BrokerClient) => Promise<T>): Promise<T> {
    const client = { sendBatch: (request: SendBatchRequest) => this.#sendBatch(request) };
    // SendQueue only calls sendBatch; the rest of the client is never reached.
    return action(client as unknown as BrokerClient);
  }

  /** Resolves once `count` batches have been sent in all. */
  async untilBatches(count: number): Promise<void> {
    while (this.batches.length < count) {
      await new Promise<void>((resolve) => this.#arrived = resolve);
    }
  }

  #sendBatch(request: SendBatchRequest): Promise<SendBatchResponse> {
    const { promise, resolve, reject } = Promise.withResolvers<SendBatchResponse>();
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const settle = () => this.inFlight--;
    this.batches.push({
      messages: request.messages,
      reply: (results) => {
        settle();
        resolve({ results });
      },
      fail: (error) => {
        settle();
        reject(error);
      },
    });
    this.#arrived?.();
    return promise;
  }
}

function createQueue(): { queue: SendQueue; connection: FakeConnection } {
  const connection = new FakeConnection();
  // PeerConnection has private fields, so a structural fake needs the cast; call() is all
  // SendQueue uses.
  return { queue: new SendQueue(connection as unknown as PeerConnection), connection };
}

/** A broker's reply to one message sent to one peer. */
function reply(message_id: string, recipient_connected: boolean): SendResponse {
  const copy = {
    message_id,
    to_id: "bbbbbbbb",
    to_name: "bob",
    recipient_connected,
    recipient_delivery: "tool_call" as const,
  };
  return {
    ...copy,
    thread_id: message_id,
    reply_to: null,
    broadcast: null,
    copies: [copy],
    skipped: [],
  };
}

function accepted(messages: BatchedSend[]): BatchResult[] {
  return messages.map((message) => ({ ok: true, ...reply(`id-${message.text}`, true) }));
}

const to = (text: string): BatchedSend => ({ to_id: "bbbbbbbb", text });

Deno.test("sends made while a batch is in flight go together in the next, in order", async () => {
  const { queue, connection } = createQueue();
  const first = queue.send(to("m0"));
  await connection.untilBatches(1);
  const later = ["m1", "m2", "m3", "m4"].map((text) => queue.send(to(text)));
  assert.equal(connection.batches.length, 1, "nothing more is sent while a batch is in flight");
  connection.batches[0]!.reply(accepted(connection.batches[0]!.messages));
  await connection.untilBatches(2);
  assert.deepEqual(connection.batches.map((batch) => batch.messages.map((m) => m.text)), [
    ["m0"],
    ["m1", "m2", "m3", "m4"],
  ]);
  connection.batches[1]!.reply(accepted(connection.batches[1]!.messages));
  assert.deepEqual(await first, reply("id-m0", true));
  assert.deepEqual(
    (await Promise.all(later)).map((reply) => reply.message_id),
    ["id-m1", "id-m2", "id-m3", "id-m4"],
  );
  assert.equal(connection.maxInFlight, 1);
});

/** Sends "head" and, while its batch is in flight, `texts`; answers "head"; returns the sends. */
async function secondBatchOf(
  texts: string[],
): Promise<
  { queue: SendQueue; sends: Promise<unknown>[]; batch: Batch; connection: FakeConnection }
> {
  const { queue, connection } = createQueue();
  const head = queue.send(to("head"));
  await connection.untilBatches(1);
  const sends = texts.map((text) => queue.send(to(text)));
  connection.batches[0]!.reply(accepted(connection.batches[0]!.messages));
  await head;
  await connection.untilBatches(2);
  return { queue, sends, batch: connection.batches[1]!, connection };
}

Deno.test("one refused message fails alone with the broker's status and error", async () => {
  const { sends, batch } = await secondBatchOf(["ok-1", "nobody", "ok-2"]);
  assert.equal(batch.messages.length, 3);
  batch.reply([
    { ok: true, ...reply("a", false) },
    { ok: false, status: 404, code: "peer_not_found", error: `Peer "zzzzzzzz" is not registered` },
    { ok: true, ...reply("c", true) },
  ]);
  const [first, refused, third] = await Promise.allSettled(sends);
  assert.deepEqual(first, {
    status: "fulfilled",
    value: reply("a", false),
  });
  assert.equal(refused?.status, "rejected");
  const reason = (refused as PromiseRejectedResult).reason;
  assert.ok(reason instanceof BrokerError);
  assert.equal(reason.status, 404);
  assert.match(reason.message, /not registered/);
  assert.deepEqual(third, {
    status: "fulfilled",
    value: reply("c", true),
  });
});

Deno.test("a message the broker gave no result for fails with a 500", async () => {
  const { sends, batch } = await secondBatchOf(["a", "b"]);
  batch.reply([{ ok: true, ...reply("a", true) }]);
  const [first, missing] = await Promise.allSettled(sends);
  assert.equal(first?.status, "fulfilled");
  const reason = (missing as PromiseRejectedResult).reason;
  assert.ok(reason instanceof BrokerError);
  assert.equal(reason.status, 500);
  assert.match(reason.message, /no reply/);
});

Deno.test("a failed request fails every message of its batch and the queue goes on", async () => {
  const { queue, sends, batch, connection } = await secondBatchOf(["lost 1", "lost 2"]);
  const down = new Error("broker down");
  batch.fail(down);
  for (const doomed of sends) await assert.rejects(doomed, (error) => error === down);
  const next = queue.send(to("next"));
  await connection.untilBatches(3);
  assert.deepEqual(connection.batches[2]!.messages.map((m) => m.text), ["next"]);
  connection.batches[2]!.reply(accepted(connection.batches[2]!.messages));
  assert.equal((await next).message_id, "id-next");
});

Deno.test("a batch holds at most 100 messages and about 128 KiB, but always one", async () => {
  const { queue, connection } = createQueue();
  const head = queue.send(to("head"));
  await connection.untilBatches(1);
  const small = Array.from({ length: 150 }, (_, i) => queue.send(to(`s${i}`)));
  // Each large message alone is over the byte budget: it still goes, one per batch.
  const big = "x".repeat(50_000);
  const large = [1, 2, 3].map((i) => queue.send(to(`${i}${big}`)));
  for (let count = 1; count <= 6; count++) {
    await connection.untilBatches(count);
    const batch = connection.batches[count - 1]!;
    batch.reply(accepted(batch.messages));
  }
  await Promise.all([head, ...small, ...large]);
  assert.deepEqual(connection.batches.map((batch) => batch.messages.length), [1, 100, 50, 1, 1, 1]);
  const texts = connection.batches.flatMap((batch) => batch.messages.map((m) => m.text[0]));
  assert.deepEqual(texts, ["h", ...Array<string>(150).fill("s"), "1", "2", "3"]);
  const smallOrder = connection.batches.slice(1, 3).flatMap((b) => b.messages.map((m) => m.text));
  assert.deepEqual(smallOrder, Array.from({ length: 150 }, (_, i) => `s${i}`));
  assert.equal(connection.maxInFlight, 1);
});
