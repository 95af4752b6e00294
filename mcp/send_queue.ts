/**
 * Outgoing messages of one MCP server, in the order the model sent them. Calls that arrive
 * while a request is in flight go together in the next POST /send_batch, so a session that
 * sends many messages at once costs one request per batch and its messages keep their order.
 *
 * @module
 */
import type { BatchedSend, SendResponse } from "../broker/protocol.ts";
import { BrokerError } from "../broker/client.ts";
import type { PeerConnection } from "./connection.ts";
import { fulfilled, rejected, SerialBatcher } from "../broker/serial_batcher.ts";

/** JSON bytes one batch may carry, well inside the broker's body limit. */
const BATCH_BYTES = 128 * 1024;
const BATCH_MESSAGES = 100;

/** FIFO of this server's sends, flushed one batch at a time. */
export class SendQueue {
  #connection: PeerConnection;
  #batcher: SerialBatcher<BatchedSend, SendResponse>;
  /** The newest send: they settle in order, so it settles after all before it. */
  #last: Promise<unknown> = Promise.resolve();

  constructor(connection: PeerConnection) {
    this.#connection = connection;
    this.#batcher = new SerialBatcher({
      commit: (messages) => this.#commit(messages),
      take: takeBatch,
    });
  }

  /** Queues `message` behind every earlier one; resolves when the broker has stored it. */
  send(message: BatchedSend): Promise<SendResponse> {
    const sent = this.#batcher.add(message);
    this.#last = sent.catch(() => {});
    return sent;
  }

  /** Resolves once every send queued so far has been stored or refused. */
  async settled(): Promise<void> {
    await this.#last;
  }

  async #commit(messages: BatchedSend[]): Promise<PromiseSettledResult<SendResponse>[]> {
    const { results } = await this.#connection.call((client) => client.sendBatch({ messages }));
    return messages.map((_, index) => {
      const result = results[index];
      if (result?.ok) {
        const { ok: _ok, ...reply } = result;
        return fulfilled(reply);
      }
      return rejected(
        result
          ? new BrokerError(result.code, result.status, result.error)
          : new BrokerError("internal", 500, "The broker gave no reply for this message"),
      );
    });
  }
}

function takeBatch(waiting: readonly BatchedSend[]): number {
  let count = 0;
  let bytes = 0;
  while (count < waiting.length && count < BATCH_MESSAGES) {
    bytes += JSON.stringify(waiting[count]).length * 3;
    if (count > 0 && bytes > BATCH_BYTES) break;
    count++;
  }
  return count;
}
