/**
 * The push path: one NDJSON stream per connected peer. It watches the peer's inbox signal
 * with `kv.watch` and, on every signal, reads the inbox and writes the messages it has not
 * streamed yet. No timer is involved: a message goes out as soon as its write commits.
 *
 * @module
 */
import type { PeerId, StreamEvent } from "./protocol.ts";
import type { Mailbox } from "./mailbox.ts";
import { errorMessage, log } from "./log.ts";

/** What to do when the stream ends, for whatever reason. */
export interface InboxStreamOptions {
  onClose: () => void;
}

/** An open inbox stream and the means to end it from the broker side. */
export interface InboxStream {
  body: ReadableStream<Uint8Array>;
  close: () => void;
}

const encoder = new TextEncoder();

/** Opens the push stream for `peerId`: a hello line, then every queued and new message. */
export function openInboxStream(
  mailbox: Mailbox,
  peerId: PeerId,
  options: InboxStreamOptions,
): InboxStream {
  let watch: ReadableStreamDefaultReader<unknown> | undefined;
  let closed = false;
  let controller: ReadableStreamDefaultController<Uint8Array>;
  const finish = () => {
    if (closed) return;
    closed = true;
    watch?.cancel().catch(() => {});
    options.onClose();
  };
  const write = (event: StreamEvent) => {
    if (!closed) controller.enqueue(encoder.encode(JSON.stringify(event) + "\n"));
  };
  const pump = async () => {
    let lastStreamed: string | undefined;
    watch = mailbox.watchInbox(peerId).getReader();
    while (!closed) {
      const signal = await watch.read();
      if (signal.done || closed) break;
      // The first read sends the whole queue; later ones only what came after it.
      for (const message of await mailbox.inbox(peerId, Date.now(), lastStreamed)) {
        write({ type: "message", message });
        lastStreamed = message.id;
      }
    }
  };
  const body = new ReadableStream<Uint8Array>({
    start(streamController) {
      controller = streamController;
      write({ type: "hello", peer_id: peerId });
      pump().catch((error) => {
        if (!closed) log(`inbox stream of ${peerId} failed: ${errorMessage(error)}`);
      }).finally(() => {
        if (!closed) {
          finish();
          try {
            controller.close();
          } catch { /* already closed by the client */ }
        }
      });
    },
    cancel() {
      finish();
    },
  });
  return {
    body,
    close() {
      if (closed) return;
      finish();
      try {
        controller.close();
      } catch { /* already closed */ }
    },
  };
}
