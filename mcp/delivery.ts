/**
 * Presenting messages to the model exactly once, and every way this server shows them. In
 * channel mode a message is pushed as a `notifications/claude/channel` and acknowledged once
 * the notification is written. Otherwise (Claude Code drops channel notifications silently
 * when channels are off) the stream only says that messages wait; the next tool result or
 * `check_messages` claims them at the broker, which hands each message to one presenter only
 * (this server or one of the session's hooks), shows them and acknowledges them. Messages
 * re-streamed after a reconnect are recognised by id and only acknowledged again. It never
 * talks to the broker itself: claims and acknowledgements go through its options.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Message, Presenter } from "../broker/protocol.ts";
import { renderMessages } from "../broker/envelope.ts";
import { errorMessage, log } from "../broker/log.ts";
import { fulfilled, SerialBatcher } from "../broker/serial_batcher.ts";
import { type ChannelNotification, toChannelNotification } from "./present.ts";

/** What delivery needs from the server and the broker. */
export interface DeliveryOptions {
  /** Whether Claude Code shows channel notifications. */
  channel: boolean;
  /** Writes a channel notification to the MCP client. */
  notify: (notification: ChannelNotification) => Promise<void>;
  /** Claims this peer's unclaimed messages at the broker for `presenter`. */
  claim: (presenter: Presenter) => Promise<Message[]>;
  /** Tells the broker these messages were presented. */
  ack: (ids: string[]) => Promise<void>;
  /** Resolves once the MCP client has initialized: a notification sent earlier may be dropped. */
  clientReady?: Promise<void>;
}

/** Most ids of shown, unacknowledged messages kept (acknowledgements that keep failing). */
const REMEMBERED_IDS = 20_000;
/**
 * Ids kept after their acknowledgement: the broker deleted those messages, but a stream read
 * that began before the deletion may still bring one; more than enough for that window.
 */
const RECENTLY_ACKED_IDS = 1_000;
/** Most ids in one POST /ack. */
const MAX_ACK_IDS = 1000;

/** Exactly-once presentation of the messages one peer receives. */
export class Delivery {
  #options: DeliveryOptions;
  /** Shown here and not yet acknowledged: a re-streamed copy is only acknowledged again. */
  #presented = new Set<string>();
  /** Shown and acknowledged lately (bounded, so memory stays flat however many arrive). */
  #acked = new Set<string>();
  /** Messages the stream announced and nobody here has shown: a hint to claim. */
  #waiting = new Set<string>();
  #acks: SerialBatcher<string, undefined>;
  #pushing: Promise<void>;

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#pushing = options.clientReady ?? Promise.resolve();
    this.#acks = new SerialBatcher({
      commit: async (ids) => {
        try {
          await options.ack(ids);
          for (const id of ids) this.#forget(id);
        } catch (error) {
          // The broker streams unacknowledged messages again; they are known and acked then.
          log(`acknowledgement of ${ids.length} messages failed: ${errorMessage(error)}`);
        }
        return ids.map(() => fulfilled(undefined));
      },
      take: (waiting) => Math.min(waiting.length, MAX_ACK_IDS),
    });
  }

  /** Whether messages are pushed as channel notifications. */
  get channel(): boolean {
    return this.#options.channel;
  }

  /** How many message ids this server keeps to recognise copies: bounded, whatever arrives. */
  get rememberedIds(): number {
    return this.#presented.size + this.#acked.size;
  }

  /** Takes a message from the broker: push it, note it, or re-acknowledge a duplicate. */
  receive(message: Message): void {
    if (this.#shown(message.id)) {
      this.#acknowledge(message.id);
      return;
    }
    if (!this.#options.channel) {
      this.#waiting.add(message.id);
      return;
    }
    this.#markPresented(message.id);
    this.#pushing = this.#pushing.then(async () => {
      try {
        await this.#options.notify(toChannelNotification(message));
        this.#acknowledge(message.id);
      } catch (error) {
        // Not written: forget it so the broker's next stream presents it again.
        this.#presented.delete(message.id);
        log(`could not push message ${message.id}: ${errorMessage(error)}`);
      }
    });
  }

  /** `result` with waiting messages appended, so they reach the model at its next tool use. */
  async attachWaiting(result: CallToolResult): Promise<CallToolResult> {
    if (this.#options.channel || this.#waiting.size === 0) return result;
    const messages = await this.#claim("tool_result").catch((error) => {
      log(`could not claim waiting messages: ${errorMessage(error)}`);
      return [];
    });
    if (messages.length === 0) return result;
    return {
      ...result,
      content: [...result.content, { type: "text", text: renderMessages(messages) }],
    };
  }

  /** What check_messages shows as new (nothing in channel mode: those are pushed). */
  async presentNew(): Promise<string> {
    const messages = this.#options.channel ? [] : await this.#claim("check_messages");
    return messages.length > 0 ? renderMessages(messages) : "No new messages.";
  }

  /** Resolves when every accepted push has been written. */
  flushed(): Promise<void> {
    return this.#pushing;
  }

  /** Claims, marks presented and acknowledges; the broker gives each message to one claimer. */
  async #claim(presenter: Presenter): Promise<Message[]> {
    const hinted = [...this.#waiting];
    const claimed = await this.#options.claim(presenter);
    // What was announced before the claim is now shown here or was claimed by a hook.
    for (const id of hinted) this.#waiting.delete(id);
    const messages = claimed.filter((message) => !this.#shown(message.id))
      .sort((a, b) => a.id < b.id ? -1 : 1);
    for (const message of claimed) {
      this.#waiting.delete(message.id);
      this.#markPresented(message.id);
      this.#acknowledge(message.id);
    }
    return messages;
  }

  #shown(id: string): boolean {
    return this.#presented.has(id) || this.#acked.has(id);
  }

  /** The broker deleted message `id`: keep it only among the recently acknowledged. */
  #forget(id: string): void {
    if (!this.#presented.delete(id)) return;
    this.#acked.add(id);
    if (this.#acked.size > RECENTLY_ACKED_IDS) {
      this.#acked.delete(this.#acked.values().next().value!);
    }
  }

  #markPresented(id: string): void {
    this.#presented.add(id);
    if (this.#presented.size > REMEMBERED_IDS) {
      this.#presented.delete(this.#presented.values().next().value!);
    }
  }

  /** One acknowledgement request at a time; ids arriving meanwhile go in the next batch. */
  #acknowledge(id: string): void {
    void this.#acks.add(id);
  }
}
