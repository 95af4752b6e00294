/**
 * The live events built from the broker's stored records: what `claude-peers tail` shows of a
 * peer and of a message. A field a record does not have (a name, a branch, a thread) is left
 * out. Pure functions; the hub sends them.
 *
 * @module
 */
import { type BrokerEvent, EVENT_LINE_CHARS, type EventPeer, type Message } from "./protocol.ts";
import type { PeerRecord } from "./peers.ts";
import type { Delivered } from "./mailbox.ts";
import { firstLine } from "./events.ts";

/** A record's optional string field (names, branches and threads come with the addressing). */
function optional(record: object, field: string): string | undefined {
  const value = (record as Record<string, unknown>)[field];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** The name of a peer record, if it has one. */
export function peerName(peer: PeerRecord | null | undefined): string | undefined {
  return peer ? optional(peer, "name") : undefined;
}

function withName<T extends object>(event: T, name: string | undefined): T {
  return name === undefined ? event : { ...event, name };
}

function now(): string {
  return new Date().toISOString();
}

/** The peer as an event shows it. */
export function eventPeer(peer: PeerRecord): EventPeer {
  const branch = optional(peer, "branch");
  return {
    id: peer.id,
    ...(peerName(peer) === undefined ? {} : { name: peerName(peer)! }),
    cwd: peer.cwd,
    repo: peer.repo,
    ...(branch === undefined ? {} : { branch }),
    summary: peer.summary,
  };
}

/** `peer` joined (its stream opened). */
export function joinedEvent(peer: PeerRecord): BrokerEvent {
  return { type: "peer_joined", at: now(), peer: eventPeer(peer) };
}

/** Peer `id` left (its stream closed). */
export function leftEvent(id: string, peer: PeerRecord | null): BrokerEvent {
  return withName({ type: "peer_left" as const, at: now(), peer_id: id }, peerName(peer));
}

/** `peer`'s summary changed. */
export function summaryEvent(peer: PeerRecord): BrokerEvent {
  return withName(
    { type: "summary_changed" as const, at: now(), peer_id: peer.id, summary: peer.summary },
    peerName(peer),
  );
}

/** `peer` was renamed from `previous`. */
export function nameEvent(peer: PeerRecord, previous: string): BrokerEvent {
  return { type: "name_changed", at: now(), peer_id: peer.id, name: peer.name, previous };
}

/** `message` was queued for its recipient. */
export function sentEvent(message: Message, recipient: PeerRecord | null): BrokerEvent {
  const fromName = optional(message, "from_name");
  const toName = peerName(recipient);
  const thread = optional(message, "thread_id");
  const broadcast = optional(message, "broadcast");
  return {
    type: "message_sent",
    at: message.sent_at,
    message_id: message.id,
    from_id: message.from_id,
    ...(fromName === undefined ? {} : { from_name: fromName }),
    from_kind: message.from_kind,
    to_id: message.to_id,
    ...(toName === undefined ? {} : { to_name: toName }),
    ...(thread === undefined ? {} : { thread_id: thread }),
    ...(broadcast === undefined ? {} : { broadcast }),
    first_line: firstLine(message.text, EVENT_LINE_CHARS),
  };
}

/** A message was shown to its recipient. */
export function deliveredEvent(delivered: Delivered): BrokerEvent {
  return {
    type: "message_delivered",
    at: new Date(delivered.at).toISOString(),
    message_id: delivered.message_id,
    from_id: delivered.from_id,
    to_id: delivered.to_id,
    via: delivered.via,
  };
}
