/**
 * The route table and its handlers: each validates its body with the protocol schemas and
 * calls the registry or the mailbox. Identity comes from the session credential, never from a
 * body. HTTP plumbing lives in `http.ts`, request defences in `auth.ts`.
 *
 * @module
 */
import {
  AckRequest,
  ListPeersRequest,
  NameRequest,
  type NameResponse,
  type Peer,
  PeerId,
  RegisterRequest,
  SESSION_HEADER,
  SummaryRequest,
  type SummaryResponse,
} from "./protocol.ts";
import type { PeerRecord } from "./peers.ts";
import { errorResponse, json, readJson, requireJsonBody } from "./http.ts";
import { callerOf, rejectBrowsers, requireSecret, sessionPeerId } from "./auth.ts";
import { Refusal } from "./refusal.ts";
import type { BrokerContext } from "./context.ts";
import { deliveryOf, recipientDelivery } from "./delivery_mode.ts";
import { claim, hookContext, wait } from "./claim_routes.ts";
import { send, sendBatch } from "./send_routes.ts";
import { clearHistory, events, readLog } from "./observe_routes.ts";
import { nameEvent, summaryEvent } from "./event_payloads.ts";
import { VERSION } from "./config.ts";
import { brokerProof, CHALLENGE_PATTERN } from "./broker_proof.ts";
import { log } from "./log.ts";

export type { BrokerContext } from "./context.ts";

type Route = (request: Request, context: BrokerContext) => Promise<Response>;

const routes: Record<string, Route> = {
  "GET /status": status,
  "POST /register": register,
  "POST /peers": listPeers,
  "POST /send": send,
  "POST /send_batch": sendBatch,
  "POST /summary": setSummary,
  "POST /name": setName,
  "POST /inbox": inbox,
  "POST /claim": claim,
  "POST /wait": wait,
  "POST /ack": ack,
  "POST /outbox": outbox,
  "POST /log": readLog,
  "POST /log/clear": clearHistory,
  "GET /events": events,
  "GET /stream": stream,
  "POST /shutdown": shutdown,
};

/** Answers one request. Never throws. */
export async function handleRequest(request: Request, context: BrokerContext): Promise<Response> {
  try {
    rejectBrowsers(request, context.port);
    const path = new URL(request.url).pathname;
    if (path === "/health" && request.method === "GET") return await health(request, context);
    // Claude Code's HTTP hooks cannot send the secret: they carry a token derived from it.
    if (path === "/hook/context" && request.method === "POST") {
      return await hookContext(request, context);
    }
    const route = routes[`${request.method} ${path}`];
    if (!route) {
      const known = Object.keys(routes).some((key) => key.endsWith(` ${path}`));
      throw known
        ? new Refusal("method_not_allowed", `Method ${request.method} is not allowed on ${path}`)
        : new Refusal("no_such_endpoint", `No such endpoint: ${request.method} ${path}`);
    }
    requireSecret(request, context.secret);
    requireJsonBody(request);
    return await route(request, context);
  } catch (error) {
    return errorResponse(error);
  }
}

/** GET /health[?challenge=C]: no peer data; with a challenge, the proof that we are ours. */
async function health(request: Request, context: BrokerContext): Promise<Response> {
  const challenge = new URL(request.url).searchParams.get("challenge");
  if (challenge === null) return json({ service: "claude-peers", version: VERSION });
  if (!CHALLENGE_PATTERN.test(challenge)) {
    throw new Refusal("bad_request", "A challenge is 16-64 lowercase hex digits");
  }
  const proof = await brokerProof(context.secret, challenge);
  return json({ service: "claude-peers", version: VERSION, proof });
}

function toWirePeer(peer: PeerRecord, context: BrokerContext): Peer {
  return {
    id: peer.id,
    name: peer.name ?? peer.id,
    pid: peer.pid,
    cwd: peer.cwd,
    git_root: peer.git_root,
    repo: peer.repo,
    branch: peer.branch ?? null,
    tty: peer.tty,
    summary: peer.summary,
    registered_at: new Date(peer.registered_at).toISOString(),
    last_seen: new Date(peer.last_seen).toISOString(),
    last_active: new Date(context.registry.lastActive(peer)).toISOString(),
    connected: context.connections.isConnected(peer.id),
    delivery: deliveryOf(peer, context),
  };
}

async function status(_request: Request, context: BrokerContext): Promise<Response> {
  const now = Date.now();
  return json({
    version: VERSION,
    pid: Deno.pid,
    port: context.port,
    db_path: context.dbPath,
    started_at: new Date(context.startedAt).toISOString(),
    uptime_ms: now - context.startedAt,
    peer_count: (await context.registry.listPeers(now)).length,
    heap_used: Deno.memoryUsage().heapUsed,
  });
}

async function register(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, RegisterRequest);
  const result = await context.registry.register(body, Date.now());
  log(
    `peer ${result.peer.id} ${
      result.resumed ? "resumed" : "registered"
    } as ${result.peer.name} (pid ${body.pid})`,
  );
  return json({
    peer_id: result.peer.id,
    name: result.peer.name,
    session: result.session,
    resumed: result.resumed,
  });
}

async function listPeers(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, ListPeersRequest);
  const now = Date.now();
  const callerId = request.headers.has(SESSION_HEADER)
    ? await sessionPeerId(request, context.registry)
    : null;
  const caller = callerId ? await context.registry.getPeer(callerId, now) : null;
  if (body.scope !== "machine" && !caller) {
    throw new Refusal("bad_request", `Scope "${body.scope}" needs a registered peer session`);
  }
  if (callerId) context.registry.noteActivity(callerId, now);
  const peers = await context.registry.listPeersInScope(body.scope, caller, now);
  return json({
    peers: peers.map((peer) => toWirePeer(peer, context)),
    ...(caller ? { self: toWirePeer(caller, context) } : {}),
  });
}

async function setSummary(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, SummaryRequest);
  const id = await sessionPeerId(request, context.registry);
  const now = Date.now();
  context.registry.noteActivity(id, now);
  const before = await context.registry.getPeer(id, now);
  let peer = body.name === undefined ? null : await context.registry.setName(id, body.name, now);
  if (peer && before && peer.name !== before.name) {
    const renamed = peer;
    context.events.emit(() => nameEvent(renamed, before.name));
  }
  if (body.summary !== undefined) {
    const summarised = await context.registry.setSummary(id, body.summary, now);
    if (summarised.summary !== before?.summary) context.events.emit(() => summaryEvent(summarised));
    peer = summarised;
  }
  peer ??= await context.registry.getPeer(id, now);
  if (!peer) throw new Refusal("not_registered", `Peer "${id}" is not registered`);
  return json({ name: peer.name, summary: peer.summary } satisfies SummaryResponse);
}

/** POST /name: a person (the CLI, with the user secret) names a live peer given by id or name. */
async function setName(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, NameRequest);
  const now = Date.now();
  const given = body.peer.toLowerCase();
  const peer = PeerId.safeParse(body.peer).success
    ? await context.registry.getPeer(body.peer, now)
    : await context.registry.findByName(given, now);
  if (!peer) {
    throw new Refusal("peer_not_found", `No live peer has the id or name "${body.peer}"`);
  }
  const renamed = await context.registry.setName(peer.id, body.name, now);
  log(`peer ${peer.id} renamed from ${peer.name} to ${renamed.name}`);
  if (renamed.name !== peer.name) context.events.emit(() => nameEvent(renamed, peer.name));
  return json({ id: peer.id, name: renamed.name, previous: peer.name } satisfies NameResponse);
}

async function inbox(request: Request, context: BrokerContext): Promise<Response> {
  const id = await sessionPeerId(request, context.registry);
  return json({ messages: await context.mailbox.inbox(id, Date.now()) });
}

async function ack(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, AckRequest);
  const { peerId, hook } = await callerOf(request, context.registry);
  const now = Date.now();
  const toName = (await context.registry.getPeer(peerId, now))?.name;
  // A hook shows messages as a hook, whatever it says.
  const via = hook ? "hook" : body.via;
  const removed = await context.mailbox.ack(peerId, body.ids, {
    now,
    ...(via === undefined ? {} : { via }),
    ...(toName === undefined ? {} : { toName }),
  });
  return json({ removed });
}

async function outbox(request: Request, context: BrokerContext): Promise<Response> {
  const id = await sessionPeerId(request, context.registry);
  const sent = await context.mailbox.outbox(id, Date.now());
  return json({
    sent: await Promise.all(sent.map(async (send) => ({
      ...send,
      state_at: send.state_at === null ? null : new Date(send.state_at).toISOString(),
      recipient_connected: context.connections.isConnected(send.to_id),
      recipient_delivery: await recipientDelivery(send.to_id, context),
    }))),
  });
}

async function stream(request: Request, context: BrokerContext): Promise<Response> {
  const id = await sessionPeerId(request, context.registry);
  if (!await context.registry.getPeer(id, Date.now())) {
    throw new Refusal(
      "not_registered",
      `Peer "${id}" is not registered: register again before streaming`,
    );
  }
  return new Response(context.connections.open(id), {
    headers: { "content-type": "application/x-ndjson", "cache-control": "no-store" },
  });
}

function shutdown(_request: Request, context: BrokerContext): Promise<Response> {
  context.requestShutdown();
  return Promise.resolve(json({ ok: true }));
}
