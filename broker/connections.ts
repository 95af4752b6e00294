/**
 * The live push streams, one per peer. A peer is listed while its stream is open; when the
 * stream closes (the MCP server exited or was killed) the peer leaves the listings at once.
 * Connected peers' leases are refreshed by one broker-wide timer, off the message path.
 *
 * @module
 */
import type { PeerId } from "./protocol.ts";
import type { PeerRegistry } from "./peers.ts";
import type { Mailbox } from "./mailbox.ts";
import { type InboxStream, openInboxStream } from "./inbox.ts";
import { errorMessage, log } from "./log.ts";

/** Lease timing and what to tell the rest of the broker. */
export interface ConnectionsOptions {
  /** How long a peer stays listed without a live connection, in ms. */
  leaseMs: number;
  /** A peer's stream closed (its MCP server exited): it has left the listings. */
  onDisconnect?: (peerId: PeerId) => void;
  /** A peer that had no stream opened one: it is listed now. */
  onConnect?: (peerId: PeerId) => void;
}

/** The open streams of this broker process. */
export class Connections {
  #streams = new Map<PeerId, InboxStream>();
  #registry: PeerRegistry;
  #mailbox: Mailbox;
  #refreshTimer: ReturnType<typeof setInterval>;

  #onDisconnect: (peerId: PeerId) => void;
  #onConnect: (peerId: PeerId) => void;

  constructor(registry: PeerRegistry, mailbox: Mailbox, options: ConnectionsOptions) {
    const { leaseMs } = options;
    this.#registry = registry;
    this.#mailbox = mailbox;
    this.#onDisconnect = options.onDisconnect ?? (() => {});
    this.#onConnect = options.onConnect ?? (() => {});
    this.#refreshTimer = setInterval(() => {
      this.#registry.refreshLeases(this.#streams.keys(), Date.now()).then(
        // Connected but unknown to the registry: closing the stream makes its server register
        // again.
        (unknown) => {
          for (const peerId of unknown) this.#streams.get(peerId)?.close();
        },
        (error) => log(`lease refresh failed: ${errorMessage(error)}`),
      );
    }, Math.max(250, Math.floor(leaseMs / 3)));
  }

  /** Whether `peerId` has an open stream. */
  isConnected(peerId: PeerId): boolean {
    return this.#streams.has(peerId);
  }

  /** Opens the stream for `peerId`, replacing (and closing) an older one of the same peer. */
  open(peerId: PeerId): ReadableStream<Uint8Array> {
    const previous = this.#streams.get(peerId);
    const stream: InboxStream = openInboxStream(this.#mailbox, peerId, {
      onClose: () => {
        if (this.#streams.get(peerId) !== stream) return;
        this.#streams.delete(peerId);
        this.#onDisconnect(peerId);
        this.#registry.removePeer(peerId, Date.now()).catch((error) =>
          log(`could not remove peer ${peerId}: ${errorMessage(error)}`)
        );
      },
    });
    this.#streams.set(peerId, stream);
    previous?.close(true);
    if (!previous) this.#onConnect(peerId);
    return stream.body;
  }

  /** Ends every stream without removing peers: they reconnect to the next broker. */
  closeAll(): void {
    clearInterval(this.#refreshTimer);
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const stream of streams) stream.close();
  }
}
