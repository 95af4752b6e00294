/**
 * The routes a person uses to watch the broker: POST /log (the history and the queued
 * messages), POST /log/clear and GET /events (the live stream `claude-peers tail` reads).
 * They answer the user's own CLI only: a request that acts as a peer (a session credential or
 * a hook's Claude Code session) is refused, so no peer reads another's messages through them;
 * a peer sees its own sent messages with POST /outbox.
 *
 * @module
 */
import { CLAUDE_SESSION_HEADER, LogRequest, SESSION_HEADER } from "./protocol.ts";
import type { BrokerContext } from "./context.ts";
import { json, readJson } from "./http.ts";
import { Refusal } from "./refusal.ts";
import { peerName } from "./event_payloads.ts";
import { VERSION } from "./config.ts";
import { log } from "./log.ts";

/** Refuses a request that acts as a peer: these routes are for the user's CLI. */
function requireUserCaller(request: Request, path: string): void {
  if (request.headers.has(SESSION_HEADER) || request.headers.has(CLAUDE_SESSION_HEADER)) {
    throw new Refusal(
      "forbidden",
      `${path} is for the user's CLI, not for peers (a peer sees its own sent messages with check_messages)`,
    );
  }
}

/** POST /log: the newest matching messages, oldest first. */
export async function readLog(request: Request, context: BrokerContext): Promise<Response> {
  requireUserCaller(request, "/log");
  const body = await readJson(request, LogRequest);
  const now = Date.now();
  const live = new Map(
    (await context.registry.listPeers(now)).map((peer) => [peer.id, peerName(peer)]),
  );
  const reply = await context.mailbox.log({
    peer: body.peer,
    thread: body.thread,
    since: body.since === undefined ? undefined : Date.parse(body.since),
    limit: body.limit,
    nameOf: (id) => live.get(id),
  }, now);
  return json(reply);
}

/** POST /log/clear: deletes the history; says how many messages it held. */
export async function clearHistory(request: Request, context: BrokerContext): Promise<Response> {
  requireUserCaller(request, "/log/clear");
  const removed = await context.mailbox.clearLog();
  log(`history cleared (${removed} messages)`);
  return json({ removed });
}

/** GET /events: NDJSON, a hello line, then every event as it happens, until either side ends. */
export function events(request: Request, context: BrokerContext): Promise<Response> {
  requireUserCaller(request, "/events");
  const body = context.events.subscribe({
    type: "hello",
    at: new Date().toISOString(),
    version: VERSION,
  });
  return Promise.resolve(
    new Response(body, {
      headers: { "content-type": "application/x-ndjson", "cache-control": "no-store" },
    }),
  );
}
