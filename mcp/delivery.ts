/**
 * Presenting messages to the model exactly once. In channel mode a message is pushed as a
 * `notifications/claude/channel` and acknowledged after the notification is written.
 * Otherwise (Claude Code drops channel notifications silently when channels are off) it is
 * held until `check_messages` or the next tool result shows it, then acknowledged. Messages
 * re-streamed after a reconnect are recognised by id and only acknowledged again.
 *
 * @module
 */
import type { Message } from "../broker/protocol.ts";
import { errorMessage, log } from "../broker/log.ts";

/** A channel notification's params: every meta value a string, every key an identifier. */
export interface ChannelNotification {
  content: string;
  meta: Record<string, string>;
}

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

/** Exactly-once presentation of the messages one peer receives. */
export class Delivery {
  #options: DeliveryOptions;
  #presented = new Set<string>();
  #held = new Map<string, Message>();
  #toAck = new Set<string>();
  #acking = false;
  #pushing: Promise<void>;

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#pushing = options.clientReady ?? Promise.resolve();
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

  /** Held messages (and `fetched` ones not yet seen), oldest first, now marked presented. */
  takeHeld(fetched: Message[] = []): Message[] {
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

  /** How many messages wait to be shown. */
  get heldCount(): number {
    return this.#held.size;
  }

  /** Resolves when every accepted push has been written. */
  flushed(): Promise<void> {
    return this.#pushing;
  }

  /** Sends acknowledgements that are waiting, e.g. after a reconnect. */
  retryAcks(): void {
    this.#flushAcks();
  }

  #markPresented(id: string): void {
    this.#presented.add(id);
    if (this.#presented.size > REMEMBERED_IDS) {
      this.#presented.delete(this.#presented.values().next().value!);
    }
  }

  #scheduleAck(id: string): void {
    this.#toAck.add(id);
    this.#flushAcks();
  }

  /** One acknowledgement request at a time; ids arriving meanwhile go in the next batch. */
  #flushAcks(): void {
    if (this.#acking || this.#toAck.size === 0) return;
    this.#acking = true;
    const ids = [...this.#toAck].slice(0, 1000);
    for (const id of ids) this.#toAck.delete(id);
    this.#options.ack(ids).catch((error) => {
      // The broker streams unacknowledged messages again; they are known and acked then.
      log(`acknowledgement of ${ids.length} messages failed: ${errorMessage(error)}`);
    }).finally(() => {
      this.#acking = false;
      this.#flushAcks();
    });
  }
}

/** Neutralises tags that could close or open a `<channel>` element in the model's view. */
export function neutralizeChannelTags(text: string): string {
  return text.replace(/<(\/?)(channel)/gi, "&lt;$1$2");
}

/** The channel notification for `message`. */
export function toChannelNotification(message: Message): ChannelNotification {
  return {
    content: neutralizeChannelTags(message.text),
    meta: {
      from_id: message.from_id,
      from_kind: message.from_kind,
      from_summary: neutralizeChannelTags(message.from_summary),
      from_cwd: message.from_cwd,
      sent_at: message.sent_at,
      message_id: message.id,
    },
  };
}

/** Readable text for messages shown in a tool result (no channel). */
export function formatMessages(messages: Message[]): string {
  return messages.map((message) => {
    const from = message.from_kind === "cli"
      ? `"${message.from_id}" (CLI)`
      : `peer ${message.from_id}${message.from_cwd ? ` in ${message.from_cwd}` : ""}`;
    const summary = message.from_summary ? `, working on: ${message.from_summary}` : "";
    return `Message ${message.id} from ${from}${summary}, sent ${message.sent_at}:\n${
      neutralizeChannelTags(message.text)
    }`;
  }).join("\n\n");
}
