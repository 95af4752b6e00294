/**
 * The push path: one NDJSON stream per connected peer. It watches the peer's inbox signal
 * (`Mailbox.watchInbox`) and, on every signal, reads the inbox and writes the messages it has not
 * streamed yet. No timer is involved: a message goes out as soon as its write commits.
 *
 * The stream is pulled, never pushed: the inbox is read one bounded page at a time, and only
 * while the stream's reader keeps up (its queue below {@link STREAM_HIGH_WATER_BYTES}). A peer
 * that stops reading (suspended, stuck, or never reading on purpose) therefore holds at most a
 * page and a queue's worth of the broker's memory; its messages wait in the database, where
 * they stay until acknowledged anyway.
 *
 * @module
 */
import type { Message, PeerId, StreamEvent } from "./protocol.ts";
import type { Mailbox } from "./mailbox.ts";
import { errorMessage, log } from "./log.ts";

/** What to do when the stream ends, for whatever reason. */
export interface InboxStreamOptions {
  onClose: () => void;
}

/** An open inbox stream and the means to end it from the broker side. */
export interface InboxStream {
  body: ReadableStream<Uint8Array>;
  /** Ends the stream; `replaced`: with a last line saying a newer stream took over. */
  close: (replaced?: boolean) => void;
}

/**
 * Bytes a stream may hold that its reader has not taken. The server stops taking chunks when
 * the socket does not drain; this bounds what waits in front of it. A few messages' worth: a
 * 32 KiB message of control characters is about 192 KB of JSON.
 */
export const STREAM_HIGH_WATER_BYTES = 256 * 1024;
/** Messages read from the inbox at once, at most. */
export const STREAM_PAGE_MESSAGES = 8;

const encoder = new TextEncoder();

/** Opens the push stream for `peerId`: a hello line, then every queued and new message. */
export function openInboxStream(
  mailbox: Mailbox,
  peerId: PeerId,
  options: InboxStreamOptions,
): InboxStream {
  let closed = false;
  let controller: ReadableStreamDefaultController<Uint8Array>;
  // Opened before the first read, so no message committed meanwhile goes unsignalled.
  const watch = mailbox.watchInbox(peerId);
  /** Messages read from the inbox and not written yet: at most one page. */
  let pending: Message[] = [];
  let lastRead: string | undefined;
  /** Whether the inbox was read to its end since the last signal. */
  let caughtUp = true;
  /**
   * Whether every message queued before the watch's last take is known here (read or handed
   * over): then the messages it holds are all that follow `lastRead`, and need no read.
   */
  let complete = false;
  const finish = () => {
    if (closed) return;
    closed = true;
    pending = [];
    watch.cancel();
    options.onClose();
  };
  /** The next messages: those the watch holds when they are all that is new, else a page. */
  const next = async () => {
    const handed = watch.take();
    const now = Date.now();
    if (complete && handed !== null && !handed.some((message) => mailbox.expired(message, now))) {
      for (const message of handed) {
        if (lastRead !== undefined && message.id <= lastRead) continue;
        pending.push(message);
        lastRead = message.id;
      }
      caughtUp = true;
      return;
    }
    const page = await mailbox.inboxPage(peerId, now, {
      ...(lastRead === undefined ? {} : { afterId: lastRead }),
      limit: STREAM_PAGE_MESSAGES,
    });
    if (closed) return;
    lastRead = page.cursor;
    pending = page.messages;
    caughtUp = !page.more;
    complete = !page.more;
  };
  const end = () => {
    finish();
    try {
      controller.close();
    } catch { /* already closed or cancelled */ }
  };
  const write = (event: StreamEvent) => {
    controller.enqueue(encoder.encode(JSON.stringify(event) + "\n"));
  };
  /** Writes at least one message, or waits until there is one; the stream asks again. */
  const pull = async () => {
    while (!closed) {
      if (pending.length === 0 && !caughtUp) {
        await next();
        if (closed) return;
      }
      if (pending.length > 0) {
        // One at least (the stream asked), then more only while its reader keeps up.
        write({ type: "message", message: pending.shift()! });
        while (pending.length > 0 && (controller.desiredSize ?? 0) > 0) {
          write({ type: "message", message: pending.shift()! });
        }
        return;
      }
      if (caughtUp) {
        // Nothing left to read: wait for the next commit. Signals coalesce, so a
        // signal means "read the inbox", never "one message".
        const news = await watch.next();
        if (!news || closed) return end();
        caughtUp = false;
      }
    }
  };
  const body = new ReadableStream<Uint8Array>({
    start(streamController) {
      controller = streamController;
      write({ type: "hello", peer_id: peerId });
    },
    pull: () =>
      pull().catch((error) => {
        if (!closed) log(`inbox stream of ${peerId} failed: ${errorMessage(error)}`);
        end();
      }),
    cancel() {
      finish();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: STREAM_HIGH_WATER_BYTES }));
  return {
    body,
    close(replaced = false) {
      if (closed) return;
      if (replaced) write({ type: "replaced" });
      end();
    },
  };
}
