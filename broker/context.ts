/**
 * BrokerContext: what the route handlers get from the running broker. Assembled once by
 * `core.ts`.
 *
 * @module
 */
import type { PeerRegistry } from "./peers.ts";
import type { Mailbox } from "./mailbox.ts";
import type { Connections } from "./connections.ts";
import type { Waiters } from "./waiters.ts";
import type { BroadcastLimit } from "./broadcast_limit.ts";
import type { EventHub } from "./events.ts";

/** What the routes need from the running broker. */
export interface BrokerContext {
  registry: PeerRegistry;
  mailbox: Mailbox;
  connections: Connections;
  waiters: Waiters;
  /** Broadcasts per sender and minute. */
  broadcasts: BroadcastLimit;
  /** Live events for GET /events. */
  events: EventHub;
  secret: string;
  /** What Claude Code's HTTP hooks carry instead of the secret. */
  hookToken: string;
  port: number;
  dbPath: string;
  startedAt: number;
  /** Begins a clean shutdown after the current response is sent. */
  requestShutdown: () => void;
}
