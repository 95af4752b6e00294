/**
 * Presenting messages to the model exactly once, and every way this server shows them. In
 * channel mode a message is pushed as a `notifications/claude/channel` and acknowledged once
 * the notification is written (within {@link ACK_LINGER_MS}, together with the messages that
 * follow it). Otherwise (Claude Code drops channel notifications silently
 * when channels are off) the stream only says that messages wait; the next tool result or
 * `check_messages` claims them at the broker, which hands each message to one presenter only
 * (this server or one of the session's hooks), shows them and acknowledges them. Messages
 * re-streamed after a reconnect are recognised by id and only acknowledged again. It never
 * talks to the broker itself: claims and acknowledgements go through its options.
 *
 * What it holds is bounded whatever the broker sends: at most {@link MAX_PUSHES_IN_FLIGHT}
 * notifications wait for the client to take them (`receive` then holds the stream, so the
 * broker stops reading this peer's inbox), and the ids it remembers are capped.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import {
  MAX_QUEUED_PER_PEER,
  type Message,
  type Presenter,
  type ShownVia,
} from "../broker/protocol.ts";
import { renderMessages } from "../broker/envelope.ts";
import { errorMessage, log } from "../broker/log.ts";
import { fulfilled, SerialBatcher } from "../broker/serial_batcher.ts";
import { type ChannelNotification, MORE_WAITING, toChannelNotification } from "./present.ts";

/** What one claim at the broker gave: a bounded page, and whether more wait after it. */
export interface ClaimedPage {
  messages: Message[];
  more: boolean;
}

/** What delivery needs from the server and the broker. */
export interface DeliveryOptions {
  /** Whether Claude Code shows channel notifications. */
  channel: boolean;
  /** Writes a channel notification to the MCP client. */
  notify: (notification: ChannelNotification) => Promise<void>;
  /** Claims a page of this peer's unclaimed messages at the broker for `presenter`. */
  claim: (presenter: Presenter) => Promise<ClaimedPage>;
  /** Tells the broker these messages were presented, and how. */
  ack: (ids: string[], via: ShownVia) => Promise<void>;
  /** Resolves once the MCP client has initialized: a notification sent earlier may be dropped. */
  clientReady?: Promise<void>;
  /** The first wait before failed acknowledgements are sent again (it doubles). @default 1000 */
  ackRetryMs?: number;
  /** How long an acknowledgement waits for others to go with it. @default ACK_LINGER_MS */
  ackLingerMs?: number;
}

/** Most ids of shown, unacknowledged messages kept (acknowledgements that keep failing). */
const REMEMBERED_IDS = 20_000;
/** Channel notifications written or waiting to be, before the stream is held. */
export const MAX_PUSHES_IN_FLIGHT = 8;
/** Announced ids kept as the hint that messages wait: the broker queues no more per peer. */
const MAX_WAITING_HINTS = MAX_QUEUED_PER_PEER;

/** A message shown here, to acknowledge. */
interface Shown {
  id: string;
  via: ShownVia;
}
/**
 * Ids kept after their acknowledgement: the broker deleted those messages, but a stream read
 * that began before the deletion may still bring one; more than enough for that window.
 */
const RECENTLY_ACKED_IDS = 1_000;
/** Most ids in one POST /ack. */
const MAX_ACK_IDS = 1000;
const ACK_RETRY_MS = 1_000;
/**
 * How long an acknowledgement waits for the next ones, while the broker answers faster than
 * that: messages that come in a run are acknowledged a few at a time (one request and one
 * transaction), not one by one.
 */
export const ACK_LINGER_MS = 5;
const ACK_RETRY_MAX_MS = 30_000;

/** Exactly-once presentation of the messages one peer receives. */
export class Delivery {
  #options: DeliveryOptions;
  /** Shown here and not yet acknowledged, and how: a re-streamed copy is only acknowledged again. */
  #presented = new Map<string, ShownVia>();
  /** Pushes accepted and not yet written: their own push acknowledges them, once it is. */
  #unwritten = new Set<string>();
  /** Shown and acknowledged lately, and how (bounded, so memory stays flat however many arrive). */
  #acked = new Map<string, ShownVia>();
  /** Messages the stream announced and nobody here has shown: a hint to claim. */
  #waiting = new Set<string>();
  #acks: SerialBatcher<Shown, undefined>;
  /** The newest acknowledgement: batches go one at a time, so it settles after all before it. */
  #lastAck: Promise<unknown> = Promise.resolve();
  #pushing: Promise<void>;
  /** Shown, but the broker did not take the acknowledgement (a full disk, a restart). */
  #unacked = new Map<string, ShownVia>();
  #ackRetry: ReturnType<typeof setTimeout> | undefined;
  #ackRetryMs: number;
  #pushesInFlight = 0;
  /** How long the last acknowledgement took the broker to answer. */
  #lastAckMs = 0;
  /** The last claim left messages at the broker: the next tool result claims again. */
  #more = false;
  /** Resolved when a push in flight settles while the stream is held. */
  #room: PromiseWithResolvers<void> | undefined;

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#pushing = options.clientReady ?? Promise.resolve();
    this.#ackRetryMs = options.ackRetryMs ?? ACK_RETRY_MS;
    this.#acks = new SerialBatcher({
      commit: async (shown) => {
        for (const via of new Set(shown.map((each) => each.via))) {
          const ids = shown.filter((each) => each.via === via).map((each) => each.id);
          try {
            const started = performance.now();
            await options.ack(ids, via);
            this.#lastAckMs = performance.now() - started;
            this.#ackRetryMs = options.ackRetryMs ?? ACK_RETRY_MS;
            for (const id of ids) this.#forget(id, via);
          } catch (error) {
            log(`acknowledgement of ${ids.length} messages failed: ${errorMessage(error)}`);
            this.#retryAcks(ids, via);
          }
        }
        return shown.map(() => fulfilled(undefined));
      },
      take: (waiting) => Math.min(waiting.length, MAX_ACK_IDS),
      // Only while the broker answers at once: a busy one makes acknowledgements wait anyway,
      // and one that lingers then falls further behind the sends it competes with.
      lingerMs: () => {
        const linger = options.ackLingerMs ?? ACK_LINGER_MS;
        return this.#lastAckMs < linger ? linger : 0;
      },
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

  /**
   * Takes a message from the broker: push it, note it, or re-acknowledge a duplicate. Resolves
   * when the next message may come: at once, unless the MCP client has not taken the
   * notifications already in flight (Claude Code reads slower than the broker sends).
   */
  receive(message: Message): Promise<void> {
    // Re-streamed (a reconnect) before its push was written: acknowledging it now would delete
    // a message that may never be shown, if that push fails.
    if (this.#unwritten.has(message.id)) return this.#roomForNext();
    const shownBefore = this.#presented.get(message.id) ?? this.#acked.get(message.id);
    if (shownBefore) {
      this.#acknowledge(message.id, shownBefore);
      return Promise.resolve();
    }
    if (!this.#options.channel) {
      this.#noteWaiting(message.id);
      return Promise.resolve();
    }
    this.#markPresented(message.id, "channel");
    this.#unwritten.add(message.id);
    this.#pushesInFlight++;
    this.#pushing = this.#pushing.then(async () => {
      try {
        await this.#options.notify(toChannelNotification(message));
        this.#acknowledge(message.id, "channel");
      } catch (error) {
        // Not written: forget it so the broker's next stream presents it again.
        this.#presented.delete(message.id);
        log(`could not push message ${message.id}: ${errorMessage(error)}`);
      } finally {
        this.#unwritten.delete(message.id);
        this.#pushesInFlight--;
        this.#room?.resolve();
        this.#room = undefined;
      }
    });
    return this.#roomForNext();
  }

  /** Resolves once fewer than MAX_PUSHES_IN_FLIGHT pushes are in flight. */
  async #roomForNext(): Promise<void> {
    while (this.#pushesInFlight >= MAX_PUSHES_IN_FLIGHT) {
      this.#room ??= Promise.withResolvers<void>();
      await this.#room.promise;
    }
  }

  #noteWaiting(id: string): void {
    this.#waiting.add(id);
    // Only a hint that something waits: the oldest go first, the newest keep it true.
    if (this.#waiting.size > MAX_WAITING_HINTS) {
      this.#waiting.delete(this.#waiting.values().next().value!);
    }
  }

  /** `result` with waiting messages appended, so they reach the model at its next tool use. */
  async attachWaiting(result: CallToolResult): Promise<CallToolResult> {
    if (this.#options.channel || (this.#waiting.size === 0 && !this.#more)) return result;
    const messages = await this.#claim("tool_result").catch((error) => {
      log(`could not claim waiting messages: ${errorMessage(error)}`);
      return [];
    });
    if (messages.length === 0) return result;
    return {
      ...result,
      content: [...result.content, { type: "text", text: this.#render(messages) }],
    };
  }

  /** What check_messages shows as new (nothing in channel mode: those are pushed). */
  async presentNew(): Promise<string> {
    const messages = this.#options.channel ? [] : await this.#claim("check_messages");
    return messages.length > 0 ? this.#render(messages) : "No new messages.";
  }

  #render(messages: Message[]): string {
    const text = renderMessages(messages);
    return this.#more ? `${text}\n\n${MORE_WAITING}` : text;
  }

  /** Resolves when every accepted push has been written. */
  flushed(): Promise<void> {
    return this.#pushing;
  }

  /** Resolves when every accepted push is written and every acknowledgement sent (or failed). */
  async settled(): Promise<void> {
    await this.#pushing;
    await this.#lastAck;
  }

  /** Claims, marks presented and acknowledges; the broker gives each message to one claimer. */
  async #claim(presenter: Presenter): Promise<Message[]> {
    const hinted = [...this.#waiting];
    const { messages: claimed, more } = await this.#options.claim(presenter);
    this.#more = more;
    // What was announced before the claim is now shown here or was claimed by a hook.
    for (const id of hinted) this.#waiting.delete(id);
    const messages = claimed.filter((message) => !this.#shown(message.id))
      .sort((a, b) => a.id < b.id ? -1 : 1);
    for (const message of claimed) {
      this.#waiting.delete(message.id);
      this.#markPresented(message.id, "tool_result");
      this.#acknowledge(message.id, "tool_result");
    }
    return messages;
  }

  #shown(id: string): boolean {
    return this.#presented.has(id) || this.#acked.has(id);
  }

  /** The broker deleted message `id`: keep it only among the recently acknowledged. */
  #forget(id: string, via: ShownVia): void {
    if (!this.#presented.delete(id)) return;
    this.#acked.set(id, via);
    if (this.#acked.size > RECENTLY_ACKED_IDS) {
      this.#acked.delete(this.#acked.keys().next().value!);
    }
  }

  #markPresented(id: string, via: ShownVia): void {
    this.#presented.set(id, via);
    if (this.#presented.size > REMEMBERED_IDS) {
      this.#presented.delete(this.#presented.keys().next().value!);
    }
  }

  /**
   * Sends failed acknowledgements again after a growing wait, so a message shown while the
   * broker could not write (a full disk) leaves its queue once it can, and is not shown again
   * by a later server of this session. A timer runs only while acknowledgements fail.
   */
  #retryAcks(ids: string[], via: ShownVia): void {
    for (const id of ids) this.#unacked.set(id, via);
    if (this.#ackRetry !== undefined) return;
    const wait = this.#ackRetryMs;
    this.#ackRetryMs = Math.min(wait * 2, ACK_RETRY_MAX_MS);
    this.#ackRetry = setTimeout(() => {
      this.#ackRetry = undefined;
      const again = [...this.#unacked];
      this.#unacked.clear();
      for (const [id, via] of again) this.#acknowledge(id, via);
    }, wait);
    Deno.unrefTimer(this.#ackRetry);
  }

  /** One acknowledgement request at a time; ids arriving meanwhile go in the next batch. */
  #acknowledge(id: string, via: ShownVia): void {
    this.#lastAck = this.#acks.add({ id, via });
  }
}
