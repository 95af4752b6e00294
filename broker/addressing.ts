/**
 * Where a message goes, decided when it is sent: a peer id stays an id, a name becomes the id of
 * its live holder now (so a later holder of the name never inherits the message), a scope stays a
 * scope for the send route to fan out, and `reply_to` continues the replied message's thread,
 * going to its sender only (by id) unless `to_id` names someone else.
 *
 * @module
 */
import {
  type BroadcastScope,
  BroadcastScope as BroadcastScopeSchema,
  MAX_MESSAGE_BYTES,
  type PeerId,
  PeerId as PeerIdSchema,
  PeerName,
} from "./protocol.ts";
import type { ThreadPlace, ThreadRecord } from "./mailbox.ts";
import type { BrokerContext } from "./context.ts";
import { Refusal } from "./refusal.ts";

/** One message to send, as either route takes it. */
export interface Outgoing {
  to_id?: string | undefined;
  text: string;
  reply_to?: string | undefined;
  idempotency_key?: string | undefined;
}

/** One peer by id, or a scope. */
export type Target = { peer: PeerId } | { scope: BroadcastScope };

/** What a message resolved to: where it goes and where it sits in a conversation. */
export interface Resolved {
  target: Target;
  place: ThreadPlace;
}

/** Where `item` goes and where it sits in a conversation; refuses what cannot be sent. */
export async function resolve(
  context: BrokerContext,
  item: Outgoing,
  now: number,
): Promise<Resolved> {
  checkMessageSize(item.text);
  if (item.reply_to === undefined) {
    const target = await resolveAddress(context, item.to_id!, now);
    return { target, place: { reply_to: null, broadcast: broadcastOf(target) } };
  }
  const replied = await context.mailbox.threadOf(item.reply_to, now);
  if (!replied) {
    throw new Refusal(
      "message_not_found",
      `No message "${item.reply_to}" to reply to: it is unknown, or older than the retention period`,
    );
  }
  const place = (target: Target): Resolved => ({
    target,
    place: {
      thread_id: replied.thread_id,
      reply_to: item.reply_to!,
      broadcast: broadcastOf(target),
    },
  });
  // Omitted, or naming the replied message's sender: the reply goes to that sender only, by
  // id, so a session that took its name since never receives it.
  const address = item.to_id?.toLowerCase();
  if (address === undefined || address === replied.from_id || address === replied.from_name) {
    return place({ peer: await repliedSender(context, item.reply_to, replied, now) });
  }
  return place(await resolveAddress(context, item.to_id!, now));
}

/** The live sender of a replied message, or why it cannot be answered. */
async function repliedSender(
  context: BrokerContext,
  messageId: string,
  replied: ThreadRecord,
  now: number,
): Promise<PeerId> {
  const who = `"${replied.from_name}"${
    replied.from_name === replied.from_id ? "" : ` (${replied.from_id})`
  }`;
  if (replied.from_kind === "cli") {
    throw new Refusal(
      "bad_request",
      `Cannot reply to message "${messageId}": it came from the CLI sender ${who}, which has no inbox`,
    );
  }
  if (await context.registry.getPeer(replied.from_id, now)) return replied.from_id;
  const endedAt = await context.registry.endedAt(replied.from_id, now);
  throw new Refusal(
    "peer_gone",
    `Cannot reply to message "${messageId}": the session of its sender ${who} has ended${
      endedAt === null ? "" : ` (at ${new Date(endedAt).toISOString()})`
    }`,
  );
}

/** A peer id as given, a name as the id of its live holder now, or a scope. */
async function resolveAddress(
  context: BrokerContext,
  address: string,
  now: number,
): Promise<Target> {
  if (address.startsWith("@")) {
    const scope = BroadcastScopeSchema.safeParse(address.toLowerCase());
    if (!scope.success) {
      throw new Refusal(
        "bad_request",
        `"${address}" is not a scope: broadcast to @repo, @directory or @machine`,
      );
    }
    return { scope: scope.data };
  }
  if (PeerIdSchema.safeParse(address).success) return { peer: address };
  const name = PeerName.safeParse(address);
  if (!name.success) {
    throw new Refusal(
      "bad_request",
      `"${address}" is not a peer id, a peer name or a scope (@repo, @directory, @machine)`,
    );
  }
  const holder = await context.registry.findByName(name.data, now);
  if (!holder) {
    throw new Refusal("peer_not_found", `No live peer is named "${name.data}"`);
  }
  return { peer: holder.id };
}

function broadcastOf(target: Target): string | null {
  return "scope" in target ? target.scope : null;
}

function checkMessageSize(text: string): void {
  const size = new TextEncoder().encode(text).byteLength;
  if (size > MAX_MESSAGE_BYTES) {
    throw new Refusal(
      "too_large",
      `Message is ${size} bytes; the limit is ${MAX_MESSAGE_BYTES} bytes (split it or send a file path)`,
    );
  }
}
