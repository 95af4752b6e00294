/**
 * Request → Response for every broker endpoint: browser defences, authentication, body
 * validation with the protocol schemas, and one mapping from errors to statuses.
 * It never trusts a body for identity: the sender is the peer its session credential names.
 *
 * @module
 */
import type { z } from "zod";
import {
  AckRequest,
  type BatchResult,
  describeZodError,
  ListPeersRequest,
  MAX_BODY_BYTES,
  MAX_MESSAGE_BYTES,
  type Peer,
  type PeerId,
  RegisterRequest,
  SendBatchRequest,
  SendRequest,
  SESSION_HEADER,
  SummaryRequest,
} from "./protocol.ts";
import { type BrokerStore, type PeerRecord, type Sender, StoreError } from "./store.ts";
import type { Connections } from "./connections.ts";
import { VERSION } from "./config.ts";
import { errorMessage, log } from "./log.ts";

/** What the routes need from the running broker. */
export interface BrokerContext {
  store: BrokerStore;
  connections: Connections;
  secret: string;
  port: number;
  dbPath: string;
  startedAt: number;
  /** Begins a clean shutdown after the current response is sent. */
  requestShutdown: () => void;
}

/** An error with the HTTP status it maps to. */
export class HttpError extends Error {
  override name = "HttpError";
  /** The HTTP status to answer with. */
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

type Route = (request: Request, context: BrokerContext) => Promise<Response>;

const routes: Record<string, Route> = {
  "GET /status": status,
  "POST /register": register,
  "POST /peers": listPeers,
  "POST /send": send,
  "POST /send_batch": sendBatch,
  "POST /summary": setSummary,
  "POST /inbox": inbox,
  "POST /ack": ack,
  "POST /outbox": outbox,
  "GET /stream": stream,
  "POST /shutdown": shutdown,
};

/** Answers one request. Never throws. */
export async function handleRequest(request: Request, context: BrokerContext): Promise<Response> {
  try {
    rejectBrowsers(request, context.port);
    const path = new URL(request.url).pathname;
    if (path === "/health" && request.method === "GET") {
      return json({ service: "claude-peers", version: VERSION });
    }
    const route = routes[`${request.method} ${path}`];
    if (!route) {
      const known = Object.keys(routes).some((key) => key.endsWith(` ${path}`));
      throw known
        ? new HttpError(405, `Method ${request.method} is not allowed on ${path}`)
        : new HttpError(404, `No such endpoint: ${request.method} ${path}`);
    }
    requireSecret(request, context.secret);
    return await route(request, context);
  } catch (error) {
    return errorResponse(error);
  }
}

function rejectBrowsers(request: Request, port: number): void {
  if (request.headers.has("origin")) {
    throw new HttpError(403, "Requests from web pages are refused (an Origin header was sent)");
  }
  const host = request.headers.get("host");
  if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
    throw new HttpError(403, `Host "${host}" is refused: use 127.0.0.1:${port}`);
  }
}

function requireSecret(request: Request, secret: string): void {
  const header = request.headers.get("authorization") ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : "";
  if (!constantTimeEqual(token, secret)) {
    throw new HttpError(401, "Missing or wrong broker secret in the Authorization header");
  }
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

async function sessionPeerId(request: Request, context: BrokerContext): Promise<PeerId> {
  const session = request.headers.get(SESSION_HEADER);
  const owner = session ? await context.store.sessionOwner(session, Date.now()) : null;
  if (!owner) {
    throw new HttpError(401, "Missing or unknown peer session: register first (POST /register)");
  }
  return owner;
}

async function readJson<T extends z.ZodTypeAny>(request: Request, schema: T): Promise<z.output<T>> {
  const type = request.headers.get("content-type") ?? "";
  if (type.split(";")[0]!.trim().toLowerCase() !== "application/json") {
    throw new HttpError(415, `Content-Type must be application/json, got "${type}"`);
  }
  const text = await readBodyText(request);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `Malformed JSON body: ${errorMessage(error)}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new HttpError(400, `Invalid request: ${describeZodError(parsed.error)}`);
  }
  return parsed.data;
}

async function readBodyText(request: Request): Promise<string> {
  const tooLarge = () => new HttpError(413, `Request body exceeds ${MAX_BODY_BYTES} bytes`);
  const declared = request.headers.get("content-length");
  if (Number(declared ?? 0) > MAX_BODY_BYTES) throw tooLarge();
  if (!request.body) return "";
  // With a declared length within the limit, read the body in one native call; otherwise
  // stream it and stop at the limit.
  const bytes = declared !== null ? new Uint8Array(await request.arrayBuffer()) : await readLimited(
    request.body,
    tooLarge,
  );
  if (bytes.byteLength > MAX_BODY_BYTES) throw tooLarge();
  try {
    return utf8.decode(bytes);
  } catch {
    throw new HttpError(400, "Request body is not valid UTF-8");
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

async function readLimited(
  body: ReadableStream<Uint8Array>,
  tooLarge: () => HttpError,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function toWirePeer(peer: PeerRecord, context: BrokerContext): Peer {
  return {
    id: peer.id,
    pid: peer.pid,
    cwd: peer.cwd,
    git_root: peer.git_root,
    repo: peer.repo,
    tty: peer.tty,
    summary: peer.summary,
    registered_at: new Date(peer.registered_at).toISOString(),
    last_seen: new Date(peer.last_seen).toISOString(),
    connected: context.connections.isConnected(peer.id),
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
    peer_count: (await context.store.listPeers(now)).length,
  });
}

async function register(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, RegisterRequest);
  const result = await context.store.register(body, Date.now());
  log(`peer ${result.peer.id} ${result.resumed ? "resumed" : "registered"} (pid ${body.pid})`);
  return json({ peer_id: result.peer.id, session: result.session, resumed: result.resumed });
}

async function listPeers(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, ListPeersRequest);
  const now = Date.now();
  const callerId = request.headers.has(SESSION_HEADER)
    ? await sessionPeerId(request, context)
    : null;
  const caller = callerId ? await context.store.getPeer(callerId, now) : null;
  if (body.scope !== "machine" && !caller) {
    throw new HttpError(400, `Scope "${body.scope}" needs a registered peer session`);
  }
  const peers = await context.store.listPeersInScope(body.scope, caller, now);
  return json({ peers: peers.map((peer) => toWirePeer(peer, context)) });
}

async function send(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, SendRequest);
  checkMessageSize(body.text);
  const now = Date.now();
  let sender: Sender;
  if (request.headers.has(SESSION_HEADER)) {
    if (body.from_name) throw new HttpError(400, `"from_name" is only for CLI senders`);
    sender = await peerSender(request, context, now);
  } else {
    sender = { id: body.from_name ?? "cli", kind: "cli", summary: "", cwd: "" };
  }
  const message = await context.store.enqueue(
    sender,
    body.to_id,
    body.text,
    now,
    body.idempotency_key,
  );
  return json({
    message_id: message.id,
    recipient_connected: context.connections.isConnected(body.to_id),
  });
}

async function sendBatch(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, SendBatchRequest);
  const now = Date.now();
  const sender = await peerSender(request, context, now);
  // Every enqueue starts before the first await, so messages queue in the order given.
  const outcomes = body.messages.map((item) => {
    try {
      checkMessageSize(item.text);
    } catch (error) {
      return Promise.reject(error);
    }
    return context.store.enqueue(sender, item.to_id, item.text, now, item.idempotency_key);
  });
  const settled = await Promise.allSettled(outcomes);
  const results: BatchResult[] = settled.map((outcome, index) => {
    if (outcome.status === "fulfilled") {
      const toId = body.messages[index]!.to_id;
      return {
        ok: true,
        message_id: outcome.value.id,
        recipient_connected: context.connections.isConnected(toId),
      };
    }
    const { status, error } = describeError(outcome.reason);
    return { ok: false, status, error };
  });
  return json({ results });
}

function checkMessageSize(text: string): void {
  const size = new TextEncoder().encode(text).byteLength;
  if (size > MAX_MESSAGE_BYTES) {
    throw new HttpError(
      413,
      `Message is ${size} bytes; the limit is ${MAX_MESSAGE_BYTES} bytes (split it or send a file path)`,
    );
  }
}

async function peerSender(request: Request, context: BrokerContext, now: number): Promise<Sender> {
  const id = await sessionPeerId(request, context);
  const peer = await context.store.getPeer(id, now);
  return { id, kind: "peer", summary: peer?.summary ?? "", cwd: peer?.cwd ?? "" };
}

async function setSummary(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, SummaryRequest);
  const id = await sessionPeerId(request, context);
  await context.store.setSummary(id, body.summary, Date.now());
  return json({ ok: true });
}

async function inbox(request: Request, context: BrokerContext): Promise<Response> {
  const id = await sessionPeerId(request, context);
  return json({ messages: await context.store.inbox(id, Date.now()) });
}

async function ack(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, AckRequest);
  const id = await sessionPeerId(request, context);
  return json({ removed: await context.store.ack(id, body.ids) });
}

async function outbox(request: Request, context: BrokerContext): Promise<Response> {
  const id = await sessionPeerId(request, context);
  const pending = await context.store.outbox(id, Date.now());
  return json({
    pending: pending.map((send) => ({
      ...send,
      recipient_connected: context.connections.isConnected(send.to_id),
    })),
  });
}

async function stream(request: Request, context: BrokerContext): Promise<Response> {
  const id = await sessionPeerId(request, context);
  if (!await context.store.getPeer(id, Date.now())) {
    throw new HttpError(409, `Peer "${id}" is not registered: register again before streaming`);
  }
  return new Response(context.connections.open(id), {
    headers: { "content-type": "application/x-ndjson", "cache-control": "no-store" },
  });
}

function shutdown(_request: Request, context: BrokerContext): Promise<Response> {
  context.requestShutdown();
  return Promise.resolve(json({ ok: true }));
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function errorResponse(error: unknown): Response {
  const { status, error: message } = describeError(error);
  return json({ error: message }, status);
}

/** The one mapping from errors to HTTP statuses. */
function describeError(error: unknown): { status: number; error: string } {
  if (error instanceof HttpError) return { status: error.status, error: error.message };
  if (error instanceof StoreError) {
    const status = { not_found: 404, limit: 429, forbidden: 403 }[error.kind];
    return { status, error: error.message };
  }
  log(`internal error: ${error instanceof Error ? error.stack : String(error)}`);
  return { status: 500, error: `Internal broker error: ${errorMessage(error)}` };
}
