/**
 * The routes that send: POST /send (a peer or the CLI) and POST /send_batch (a peer's queue).
 * Each message's address is resolved at send time (`addressing.ts`); a scope becomes every live
 * peer in it but the sender, capped per message and rate-limited per sender (every CLI sender
 * counting as one), all copies in one transaction. A CLI sender may name itself, but not after a
 * live session.
 *
 * @module
 */
import {
  BatchedSend,
  type BroadcastScope,
  describeZodError,
  MAX_FAN_OUT,
  type Message,
  type PeerId,
  SendBatchEnvelope,
  SendRequest,
  type SendResponse,
  type SentCopy,
  SESSION_HEADER,
} from "./protocol.ts";
import type { PeerRecord } from "./peers.ts";
import type { Sender } from "./mailbox.ts";
import { type Outgoing, resolve, type Resolved } from "./addressing.ts";
import type { BrokerContext } from "./context.ts";
import { describeError, json, readJson } from "./http.ts";
import { sessionPeerId } from "./auth.ts";
import { Refusal } from "./refusal.ts";
import { recipientDelivery } from "./delivery_mode.ts";
import { sentEvent } from "./event_payloads.ts";

/** A sender, with its live record when it is a peer. */
interface From {
  sender: Sender;
  peer: PeerRecord | null;
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
    // "from" is an address a model answers to: a CLI sender must not pass for a live session.
    if (body.from_name !== undefined && await context.registry.findByName(name, now)) {
      throw new Refusal(
        "name_taken",
        `"${name}" is the name of a live session; a CLI sender cannot take it, pick another`,
      );
    }
    from = { sender: { id: name, name, kind: "cli", summary: "", cwd: "" }, peer: null };
  }
  const resolved = await resolve(context, body, now);
  return json(await deliver(context, from, body, resolved, now));
}

/** POST /send_batch: each message succeeds or fails on its own, queued in the order given. */
export async function sendBatch(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, SendBatchEnvelope);
  const items = body.messages.map((raw) => BatchedSend.safeParse(raw));
  const now = Date.now();
  const from = await peerSender(request, context, now);
  // Addresses resolve first, all at once; then every send starts before the first await, so
  // messages queue in the order given.
  const resolved = await Promise.allSettled(
    items.map((item) =>
      item.success ? resolve(context, item.data, now) : Promise.reject(
        new Refusal("bad_request", `Invalid message: ${describeZodError(item.error)}`),
      )
    ),
  );
  const outcomes = items.map((item, index) => {
    const target = resolved[index]!;
    if (target.status === "rejected") return Promise.reject(target.reason);
    // A malformed message was rejected above; this one parsed.
    return deliver(context, from, item.data!, target.value, now);
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
    await emitSent(context, message, now);
    return { ...copy, ...threadFields(message), copies: [copy], skipped: [] };
  }
  const recipients = await broadcastRecipients(context, from, target.scope, now);
  // Every CLI sender shares one allowance: a new --from name is no new sender.
  const giveBack = context.broadcasts.take(
    from.sender.kind === "cli" ? "cli" : from.sender.id,
    now,
  );
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
    for (const message of messages) await emitSent(context, message, now);
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

/** Tells `tail` a message was queued; costs nothing while nobody watches. */
async function emitSent(context: BrokerContext, message: Message, now: number): Promise<void> {
  if (context.events.subscribers === 0) return;
  const recipient = await context.registry.getPeer(message.to_id, now);
  context.events.emit(() => sentEvent(message, recipient));
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
