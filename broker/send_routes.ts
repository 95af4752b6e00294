/**
 * The routes that send: POST /send (a peer or the CLI) and POST /send_batch (a peer's queue).
 * Each message's address is resolved here, at send time: a peer id stays an id, a name becomes
 * the id of its live holder now (so a later holder of the name never inherits the message), a
 * scope becomes every live peer in it but the sender (capped per message and rate-limited per
 * sender), and `reply_to` continues the replied message's thread, going to its sender only
 * unless `to_id` says otherwise.
 *
 * @module
 */
import {
  type BroadcastScope,
  BroadcastScope as BroadcastScopeSchema,
  MAX_FAN_OUT,
  MAX_MESSAGE_BYTES,
  type PeerId,
  PeerId as PeerIdSchema,
  PeerName,
  SendBatchRequest,
  SendRequest,
  type SendResponse,
  type SentCopy,
  SESSION_HEADER,
} from "./protocol.ts";
import type { PeerRecord } from "./peers.ts";
import type { Sender, ThreadPlace, ThreadRecord } from "./mailbox.ts";
import type { BrokerContext } from "./context.ts";
import { describeError, json, readJson } from "./http.ts";
import { sessionPeerId } from "./auth.ts";
import { Refusal } from "./refusal.ts";
import { recipientDelivery } from "./delivery_mode.ts";

/** One message to send, as either route takes it. */
interface Outgoing {
  to_id?: string | undefined;
  text: string;
  reply_to?: string | undefined;
  idempotency_key?: string | undefined;
}

/** A sender, with its live record when it is a peer. */
interface From {
  sender: Sender;
  peer: PeerRecord | null;
}

type Target = { peer: PeerId } | { scope: BroadcastScope };

/** What a message resolved to: where it goes and where it sits in a conversation. */
interface Resolved {
  target: Target;
  place: ThreadPlace;
}

/** POST /send. */
export async function send(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, SendRequest);
  const now = Date.now();
  let from: From;
  if (request.headers.has(SESSION_HEADER)) {
    if (body.from_name) throw new Refusal("bad_request", `"from_name" is only for CLI senders`);
    from = await peerSender(request, context, now);
  } else {
    const name = body.from_name ?? "cli";
    from = { sender: { id: name, name, kind: "cli", summary: "", cwd: "" }, peer: null };
  }
  const resolved = await resolve(context, body, now);
  return json(await deliver(context, from, body, resolved, now));
}

/** POST /send_batch: each message succeeds or fails on its own, queued in the order given. */
export async function sendBatch(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, SendBatchRequest);
  const now = Date.now();
  const from = await peerSender(request, context, now);
  // Addresses resolve first, all at once; then every send starts before the first await, so
  // messages queue in the order given.
  const resolved = await Promise.allSettled(
    body.messages.map((item) => resolve(context, item, now)),
  );
  const outcomes = body.messages.map((item, index) => {
    const target = resolved[index]!;
    if (target.status === "rejected") return Promise.reject(target.reason);
    return deliver(context, from, item, target.value, now);
  });
  const settled = await Promise.allSettled(outcomes);
  const results = settled.map((outcome) =>
    outcome.status === "fulfilled"
      ? { ok: true as const, ...outcome.value }
      : { ok: false as const, ...describeError(outcome.reason) }
  );
  return json({ results });
}

async function peerSender(request: Request, context: BrokerContext, now: number): Promise<From> {
  const id = await sessionPeerId(request, context.registry);
  const peer = await context.registry.getPeer(id, now);
  context.registry.noteActivity(id, now);
  return {
    sender: {
      id,
      name: peer?.name ?? id,
      kind: "peer",
      summary: peer?.summary ?? "",
      cwd: peer?.cwd ?? "",
    },
    peer,
  };
}

async function resolve(
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

async function deliver(
  context: BrokerContext,
  from: From,
  item: Outgoing,
  resolved: Resolved,
  now: number,
): Promise<SendResponse> {
  const { target, place } = resolved;
  if ("peer" in target) {
    const message = await context.mailbox.enqueue(
      from.sender,
      target.peer,
      item.text,
      now,
      item.idempotency_key,
      place,
    );
    const copy = await copyOf(context, message.id, target.peer, now);
    return { ...copy, ...threadFields(message), copies: [copy], skipped: [] };
  }
  const recipients = await broadcastRecipients(context, from, target.scope, now);
  const giveBack = context.broadcasts.take(from.sender.id, now);
  try {
    const { messages, skipped } = await context.mailbox.broadcast(
      from.sender,
      recipients.map((peer) => peer.id),
      item.text,
      now,
      { idempotencyKey: item.idempotency_key, place },
    );
    const copies = await Promise.all(
      messages.map((message) => copyOf(context, message.id, message.to_id, now)),
    );
    const names = new Map(recipients.map((peer) => [peer.id, peer.name]));
    return {
      ...copies[0]!,
      ...threadFields(messages[0]!),
      copies,
      skipped: skipped.map((id) => names.get(id) ?? id),
    };
  } catch (error) {
    giveBack();
    throw error;
  }
}

/** The live peers a broadcast from `from` to `scope` reaches: never the sender, at most the cap. */
async function broadcastRecipients(
  context: BrokerContext,
  from: From,
  scope: BroadcastScope,
  now: number,
): Promise<PeerRecord[]> {
  if (from.sender.kind === "cli" && scope !== "@machine") {
    throw new Refusal(
      "bad_request",
      `The CLI has no repository or directory of its own: broadcast to @machine, or send to a name`,
    );
  }
  const listScope = scope === "@repo" ? "repo" : scope === "@directory" ? "directory" : "machine";
  const peers = await context.registry.listPeersInScope(listScope, from.peer, now);
  if (peers.length === 0) {
    const why = scope === "@repo" && from.peer?.git_root === null
      ? " (this session is not in a git repository)"
      : "";
    throw new Refusal("peer_not_found", `No other live peer in ${scope}${why}`);
  }
  if (peers.length > MAX_FAN_OUT) {
    throw new Refusal(
      "too_many_recipients",
      `${scope} holds ${peers.length} other live peers; one broadcast reaches at most ${MAX_FAN_OUT}: use a narrower scope or send to names`,
    );
  }
  return peers;
}

async function copyOf(
  context: BrokerContext,
  messageId: string,
  toId: PeerId,
  now: number,
): Promise<SentCopy> {
  const peer = await context.registry.getPeer(toId, now);
  return {
    message_id: messageId,
    to_id: toId,
    to_name: peer?.name ?? toId,
    recipient_connected: context.connections.isConnected(toId),
    recipient_delivery: await recipientDelivery(toId, context),
  };
}

function threadFields(
  message: { thread_id: string; reply_to: string | null; broadcast: string | null },
): Pick<SendResponse, "thread_id" | "reply_to" | "broadcast"> {
  return { thread_id: message.thread_id, reply_to: message.reply_to, broadcast: message.broadcast };
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
