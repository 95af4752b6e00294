/**
 * createBrokerCore(): the broker's parts over one open database (registry, mailbox, live
 * streams) and the request handler that serves them. No port, no signals: `mod.ts` adds those,
 * and tests run the core in-process on a `:memory:` database.
 *
 * @module
 */
import { PeerRegistry } from "./peers.ts";
import { Mailbox } from "./mailbox.ts";
import { Connections } from "./connections.ts";
import { Waiters } from "./waiters.ts";
import { EventHub } from "./events.ts";
import { deliveredEvent, joinedEvent, leftEvent } from "./event_payloads.ts";
import { type BrokerContext, handleRequest } from "./routes.ts";
import { hookToken } from "./secret.ts";
import {
  BROADCAST_WINDOW_MS,
  MAX_BROADCASTS_PER_WINDOW,
  MAX_PEERS,
  MAX_QUEUED_PER_PEER,
} from "./protocol.ts";
import { BroadcastLimit } from "./broadcast_limit.ts";

/** What a broker core is built from. */
export interface BrokerCoreOptions {
  /** The user secret every request but /health must carry. */
  secret: string;
  /** The port clients use: the Host header must name it. */
  port: number;
  /** Shown by GET /status. */
  dbPath: string;
  /** How long a peer stays listed without a live connection, in ms. */
  leaseMs: number;
  /** How long an unacknowledged message is kept, in ms. */
  retentionMs: number;
  /** How long a delivered message stays in the history, in ms; 0 keeps none. @default 0 */
  historyMs?: number;
  /** Most messages the history keeps; 0 keeps none. @default 0 */
  historyMax?: number;
  /** Unacknowledged messages one recipient may have. @default MAX_QUEUED_PER_PEER */
  maxQueued?: number;
  /** Peers listed at once. @default MAX_PEERS */
  maxPeers?: number;
  /** Broadcasts one sender may make per minute. @default MAX_BROADCASTS_PER_WINDOW */
  maxBroadcasts?: number;
  /** Called on POST /shutdown. @default nothing */
  requestShutdown?: () => void;
}

/** A running broker without its server. */
export interface BrokerCore {
  context: BrokerContext;
  /** Answers one request; never throws. */
  handle: (request: Request) => Promise<Response>;
  /** Ends every stream and timer; the database stays open (its owner closes it). */
  close: () => void;
}

/** Builds the broker's parts over `kv` and caps old leases (peers must reconnect). */
export async function createBrokerCore(
  kv: Deno.Kv,
  options: BrokerCoreOptions,
): Promise<BrokerCore> {
  const registry = new PeerRegistry(kv, {
    leaseMs: options.leaseMs,
    retentionMs: options.retentionMs,
    maxPeers: options.maxPeers ?? MAX_PEERS,
  });
  const events = new EventHub();
  // Built after the mailbox, which it needs; the mailbox asks it only once messages flow.
  // deno-lint-ignore prefer-const -- assigned below, after the mailbox it is built with
  let connections: Connections | undefined;
  const mailbox = new Mailbox(kv, {
    retentionMs: options.retentionMs,
    historyMs: options.historyMs ?? 0,
    historyMax: options.historyMax ?? 0,
    onDelivered: (delivered) => {
      for (const each of delivered) events.emit(() => deliveredEvent(each));
    },
    maxQueued: options.maxQueued ?? MAX_QUEUED_PER_PEER,
    isLive: async (id, now) => await registry.getPeer(id, now) !== null,
    endedAt: (id, now) => registry.endedAt(id, now),
    isReading: (id) => connections?.isConnected(id) ?? false,
  });
  await mailbox.restoreOrder();
  const startedAt = Date.now();
  // Peers listed by the previous broker must reconnect to this one within a lease to stay listed.
  await registry.capLeases(startedAt, options.leaseMs);
  const waiters = new Waiters(mailbox);
  connections = new Connections(registry, mailbox, {
    leaseMs: options.leaseMs,
    // The session's MCP server is gone: its hook stops waiting (and tries again while alive).
    onDisconnect: (peerId) => {
      waiters.end(peerId, { state: "absent" });
      if (events.subscribers === 0) return;
      // Read before the registry forgets it (its removal waits for a database write).
      void registry.getPeer(peerId, Date.now()).then((peer) =>
        events.emit(() => leftEvent(peerId, peer))
      );
    },
    onConnect: (peerId) => {
      if (events.subscribers === 0) return;
      void registry.getPeer(peerId, Date.now()).then((peer) => {
        if (peer) events.emit(() => joinedEvent(peer));
      });
    },
  });
  const context: BrokerContext = {
    registry,
    mailbox,
    connections,
    waiters,
    broadcasts: new BroadcastLimit({
      max: options.maxBroadcasts ?? MAX_BROADCASTS_PER_WINDOW,
      windowMs: BROADCAST_WINDOW_MS,
    }),
    events,
    secret: options.secret,
    hookToken: await hookToken(options.secret),
    port: options.port,
    dbPath: options.dbPath,
    startedAt,
    requestShutdown: options.requestShutdown ?? (() => {}),
  };
  return {
    context,
    handle: (request) => handleRequest(request, context),
    close: () => {
      waiters.endAll();
      connections.closeAll();
      events.closeAll();
    },
  };
}
