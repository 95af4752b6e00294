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

interface Pending {
  message: BatchedSend;
  resolve: (reply: SendResponse) => void;
  reject: (error: unknown) => void;
}

/** JSON bytes one batch may carry, well inside the broker's body limit. */
const BATCH_BYTES = 128 * 1024;
const BATCH_MESSAGES = 100;

/** FIFO of this server's sends, flushed one batch at a time. */
export class SendQueue {
  #connection: PeerConnection;
  #queue: Pending[] = [];
  #flushing = false;

  constructor(connection: PeerConnection) {
    this.#connection = connection;
  }

  /** Queues `message` behind every earlier one; resolves when the broker has stored it. */
  send(message: BatchedSend): Promise<SendResponse> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ message, resolve, reject });
      if (!this.#flushing) this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#takeBatch();
        try {
          const { results } = await this.#connection.call((client) =>
            client.sendBatch({ messages: batch.map((pending) => pending.message) })
          );
          batch.forEach((pending, index) => {
            const result = results[index];
            if (result?.ok) {
              pending.resolve({
                message_id: result.message_id,
                recipient_connected: result.recipient_connected,
              });
            } else {
              pending.reject(
                result
                  ? new BrokerError(result.code, result.status, result.error)
                  : new BrokerError("internal", 500, "The broker gave no result for this message"),
              );
            }
          });
        } catch (error) {
          for (const pending of batch) pending.reject(error);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  #takeBatch(): Pending[] {
    let count = 0;
    let bytes = 0;
    while (count < this.#queue.length && count < BATCH_MESSAGES) {
      bytes += JSON.stringify(this.#queue[count]!.message).length * 3;
      if (count > 0 && bytes > BATCH_BYTES) break;
      count++;
    }
    return this.#queue.splice(0, count);
  }
}
