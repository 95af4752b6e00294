/**
 * EventHub: the broker's live events (peers joining and leaving, summaries, messages sent and
 * delivered), fanned out in-process to the GET /events streams of `claude-peers tail`. The
 * registry's callers, the routes and the mailbox emit into it; with nobody subscribed an event
 * is not even built. Each subscriber has a bounded buffer: a reader that falls behind loses
 * events, and is told so by one `lagged` event in their place, instead of growing the broker.
 * No timer: a subscriber's stream is pulled by its connection.
 *
 * @module
 */
import type { BrokerEvent } from "./protocol.ts";

/** Events one subscriber may have waiting before the newest are dropped. */
export const EVENT_BUFFER = 1000;

/** Options for {@link EventHub}. */
export interface EventHubOptions {
  /** Events a subscriber may have waiting. @default EVENT_BUFFER */
  bufferLimit?: number;
}

const encoder = new TextEncoder();

interface Subscriber {
  lines: string[];
  dropped: number;
  closed: boolean;
  wake: (() => void) | undefined;
}

/** The live events of one broker process. */
export class EventHub {
  #subscribers = new Set<Subscriber>();
  #limit: number;

  constructor(options: EventHubOptions = {}) {
    this.#limit = options.bufferLimit ?? EVENT_BUFFER;
  }

  /** How many streams are open. */
  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** Sends the event `build` makes to every subscriber; builds nothing when there is none. */
  emit(build: () => BrokerEvent): void {
    if (this.#subscribers.size === 0) return;
    const line = JSON.stringify(build()) + "\n";
    for (const subscriber of this.#subscribers) {
      if (subscriber.dropped > 0 && subscriber.lines.length < this.#limit) {
        // Room again: say what was lost, in the place where it was lost.
        subscriber.lines.push(lagged(subscriber.dropped));
        subscriber.dropped = 0;
      }
      if (subscriber.lines.length < this.#limit) subscriber.lines.push(line);
      else subscriber.dropped++;
      subscriber.wake?.();
    }
  }

  /** A new NDJSON stream: `first`, then every event from now on, until closed. */
  subscribe(first: BrokerEvent): ReadableStream<Uint8Array> {
    const subscriber: Subscriber = {
      lines: [JSON.stringify(first) + "\n"],
      dropped: 0,
      closed: false,
      wake: undefined,
    };
    this.#subscribers.add(subscriber);
    const end = () => {
      subscriber.closed = true;
      this.#subscribers.delete(subscriber);
      subscriber.wake?.();
    };
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        while (!subscriber.closed && subscriber.lines.length === 0 && subscriber.dropped === 0) {
          await new Promise<void>((resolve) => subscriber.wake = resolve);
          subscriber.wake = undefined;
        }
        if (subscriber.dropped > 0) {
          subscriber.lines.push(lagged(subscriber.dropped));
          subscriber.dropped = 0;
        }
        if (subscriber.lines.length > 0) {
          controller.enqueue(encoder.encode(subscriber.lines.join("")));
          subscriber.lines = [];
        }
        if (subscriber.closed) controller.close();
      },
      cancel: end,
    }, { highWaterMark: 0 });
  }

  /** Ends every stream: the broker is stopping. */
  closeAll(): void {
    for (const subscriber of [...this.#subscribers]) {
      subscriber.closed = true;
      this.#subscribers.delete(subscriber);
      subscriber.wake?.();
    }
  }
}

function lagged(dropped: number): string {
  const event: BrokerEvent = { type: "lagged", at: new Date().toISOString(), dropped };
  return JSON.stringify(event) + "\n";
}

/** The first line of `text`, at most `max` characters (an ellipsis marks a cut). */
export function firstLine(text: string, max: number): string {
  const line = text.split(/\r?\n|\r|\u2028|\u2029/, 1)[0] ?? "";
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
