/**
 * Presenting messages to the model exactly once, and every way they are shown. In channel
 * mode a message is pushed as a `notifications/claude/channel` and acknowledged after the
 * notification is written. Otherwise (Claude Code drops channel notifications silently when
 * channels are off) it is held until `check_messages` or the next tool result shows it, then
 * acknowledged. Messages re-streamed after a reconnect are recognised by id and only
 * acknowledged again. It never talks to the broker itself: acknowledgements go through `ack`.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Message } from "../broker/protocol.ts";
import { errorMessage, log } from "../broker/log.ts";
import { fulfilled, SerialBatcher } from "../broker/serial_batcher.ts";
import { type ChannelNotification, formatMessages, toChannelNotification } from "./present.ts";

/** What delivery needs from the server and the broker. */
export interface DeliveryOptions {
  /** Whether Claude Code shows channel notifications. */
  channel: boolean;
  /** Writes a channel notification to the MCP client. */
  notify: (notification: ChannelNotification) => Promise<void>;
  /** Tells the broker these messages were presented. */
  ack: (ids: string[]) => Promise<void>;
  /** Resolves once the MCP client has initialized: a notification sent earlier may be dropped. */
  clientReady?: Promise<void>;
}

const REMEMBERED_IDS = 20_000;
/** Most ids in one POST /ack. */
const MAX_ACK_IDS = 1000;

/** Exactly-once presentation of the messages one peer receives. */
export class Delivery {
  #options: DeliveryOptions;
  #presented = new Set<string>();
  #held = new Map<string, Message>();
  #acks: SerialBatcher<string, undefined>;
  #pushing: Promise<void>;

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#pushing = options.clientReady ?? Promise.resolve();
    this.#acks = new SerialBatcher({
      commit: async (ids) => {
        await options.ack(ids).catch((error) => {
          // The broker streams unacknowledged messages again; they are known and acked then.
          log(`acknowledgement of ${ids.length} messages failed: ${errorMessage(error)}`);
        });
        return ids.map(() => fulfilled(undefined));
      },
      take: (waiting) => Math.min(waiting.length, MAX_ACK_IDS),
    });
  }

  /** Whether messages are pushed as channel notifications. */
  get channel(): boolean {
    return this.#options.channel;
  }

  /** Takes a message from the broker: push it, hold it, or re-acknowledge a duplicate. */
  receive(message: Message): void {
    if (this.#presented.has(message.id)) {
      this.#scheduleAck(message.id);
      return;
    }
    if (!this.#options.channel) {
      this.#held.set(message.id, message);
      return;
    }
    this.#markPresented(message.id);
    this.#pushing = this.#pushing.then(async () => {
      try {
        await this.#options.notify(toChannelNotification(message));
        this.#scheduleAck(message.id);
      } catch (error) {
        // Not written: forget it so the broker's next stream presents it again.
        this.#presented.delete(message.id);
        log(`could not push message ${message.id}: ${errorMessage(error)}`);
      }
    });
  }

  /** `result` with the held messages appended, so they reach the model at its next tool use. */
  attachHeld(result: CallToolResult): CallToolResult {
    if (this.#held.size === 0) return result;
    const text = `New messages from other sessions:\n\n${formatMessages(this.#takeHeld([]))}`;
    return { ...result, content: [...result.content, { type: "text", text }] };
  }

  /**
   * What check_messages shows as new: the held messages and, when channels are off, the
   * `inbox` messages not presented yet (in channel mode those are pushed, so skipped here).
   */
  presentNew(inbox: Message[]): string {
    const shown = this.#takeHeld(this.#options.channel ? [] : inbox);
    return shown.length > 0 ? formatMessages(shown) : "No new messages.";
  }

  /** Resolves when every accepted push has been written. */
  flushed(): Promise<void> {
    return this.#pushing;
  }

  /** Held messages (and `fetched` ones not yet seen), oldest first, now marked presented. */
  #takeHeld(fetched: Message[]): Message[] {
    for (const message of fetched) {
      if (!this.#presented.has(message.id)) this.#held.set(message.id, message);
    }
    const messages = [...this.#held.values()].sort((a, b) => a.id < b.id ? -1 : 1);
    this.#held.clear();
    for (const message of messages) {
      this.#markPresented(message.id);
      this.#scheduleAck(message.id);
    }
    return messages;
  }

  #markPresented(id: string): void {
    this.#presented.add(id);
    if (this.#presented.size > REMEMBERED_IDS) {
      this.#presented.delete(this.#presented.values().next().value!);
    }
  }

  /** One acknowledgement request at a time; ids arriving meanwhile go in the next batch. */
  #scheduleAck(id: string): void {
    void this.#acks.add(id);
  }
}
