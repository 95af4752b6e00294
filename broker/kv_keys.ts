/**
 * The Deno KV key layout, and the only module that spells a key. The registry and the mailbox
 * build every key through these functions, so the layout can be read (and changed) in one place.
 *
 * @module
 */
import type { PeerId } from "./protocol.ts";

/** Prefix of every peer record. */
export const PEERS: Deno.KvKey = ["peer"];

/** A peer's record. */
export function peerKey(id: PeerId): Deno.KvKey {
  return ["peer", id];
}

/** A session credential's record, by the credential's hash. */
export function sessionKey(tokenHash: string): Deno.KvKey {
  return ["session", tokenHash];
}

/** Which peer a Claude Code session's MCP server registered. */
export function claudeSessionKey(claudeSessionId: string): Deno.KvKey {
  return ["claude_session", claudeSessionId];
}

/** When a peer's session ended (its stream closed), kept for the retention period. */
export function endedKey(id: PeerId): Deno.KvKey {
  return ["ended", id];
}

/** Prefix of a recipient's queued messages. */
export function inboxPrefix(toId: PeerId): Deno.KvKey {
  return ["inbox", toId];
}

/** One queued message. */
export function inboxKey(toId: PeerId, messageId: string): Deno.KvKey {
  return ["inbox", toId, messageId];
}

/** The first key after `messageId` in a recipient's inbox. */
export function inboxAfter(toId: PeerId, messageId: string): Deno.KvKey {
  return ["inbox", toId, `${messageId}\u0000`];
}

/** Prefix of every sender's status records. */
export const OUTBOXES: Deno.KvKey = ["outbox"];

/** Prefix of what a sender sent, with what became of it. */
export function outboxPrefix(fromId: string): Deno.KvKey {
  return ["outbox", fromId];
}

/** The status record of one message a sender sent. */
export function outboxKey(fromId: string, messageId: string): Deno.KvKey {
  return ["outbox", fromId, messageId];
}

/** The message id a sender's idempotency key produced. */
export function sendKey(fromId: string, idempotencyKey: string): Deno.KvKey {
  return ["send_key", fromId, idempotencyKey];
}

/** Counter of messages ever queued for a recipient. */
export function enqueuedCounter(toId: PeerId): Deno.KvKey {
  return ["inbox_enqueued", toId];
}

/** Counter of messages ever removed from a recipient's inbox. */
export function removedCounter(toId: PeerId): Deno.KvKey {
  return ["inbox_removed", toId];
}

/** Who sent a message and in which thread, kept for the retention period so it can be answered. */
export function threadKey(messageId: string): Deno.KvKey {
  return ["thread", messageId];
}

/** Prefix of every recipient's inbox. */
export const INBOXES: Deno.KvKey = ["inbox"];

/** Prefix of the history: delivered messages, in id (acceptance) order. */
export const HISTORY: Deno.KvKey = ["history"];

/** One delivered message in the history. */
export function historyKey(messageId: string): Deno.KvKey {
  return ["history", messageId];
}

/** Counter of messages ever added to the history. */
export const HISTORY_ADDED: Deno.KvKey = ["history_added"];

/** Counter of messages ever removed from the history (trimmed, expired or cleared). */
export const HISTORY_REMOVED: Deno.KvKey = ["history_removed"];

/** The time of the newest message id ever issued: the next broker's ids sort after it. */
export const ID_FLOOR: Deno.KvKey = ["id_floor"];
