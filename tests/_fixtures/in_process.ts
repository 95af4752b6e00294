/**
 * The broker's request handler in the test's own process, on an in-memory Deno KV and with
 * no server: requests go straight to `handleRequest`. For tests of request handling (bodies,
 * authentication, content types, limits, hostile input) that need no process or socket.
 *
 * {@link createInProcessBroker} is the one place that assembles the broker's parts; when the
 * broker's structure changes, only that function changes.
 *
 * @module
 */
import { SESSION_HEADER } from "../../broker/protocol.ts";
import { createBrokerCore } from "../../broker/core.ts";
import type { BrokerContext } from "../../broker/routes.ts";
import { randomHex } from "../../broker/ids.ts";

/** A broker answering in-process: `await using broker = await createInProcessBroker()`. */
export interface InProcessBroker extends AsyncDisposable {
  /** What the routes run against. */
  context: BrokerContext;
  /** The secret requests must carry as `Authorization: Bearer <secret>`. */
  secret: string;
  /** The port the broker believes it serves (only the Host check reads it). */
  port: number;
  /** How many times a request asked the broker to shut down. */
  shutdownRequests: () => number;
  /**
   * Answers a request for `path` the way the served broker would: like `fetch`, it sets the
   * Host header and, for a body of known length, Content-Length, unless `init` sets them.
   */
  fetch: (path: string, init?: RequestInit) => Promise<Response>;
  /** An authenticated JSON request (as the peer of `session`, if given); throws unless 2xx. */
  call: (method: string, path: string, body?: unknown, session?: string) => Promise<unknown>;
}

/** Options for {@link createInProcessBroker}. */
export interface InProcessBrokerOptions {
  /** @default 30000 */
  leaseMs?: number;
  /** @default 24 h */
  retentionMs?: number;
  /** @default MAX_QUEUED_PER_PEER */
  maxQueued?: number;
  /** @default MAX_PEERS */
  maxPeers?: number;
}

/** Builds the broker core on a `:memory:` KV; disposal closes it. */
export async function createInProcessBroker(
  options: InProcessBrokerOptions = {},
): Promise<InProcessBroker> {
  const kv = await Deno.openKv(":memory:");
  const secret = randomHex(32);
  const port = 7899;
  let shutdowns = 0;
  const core = await createBrokerCore(kv, {
    secret,
    port,
    dbPath: ":memory:",
    leaseMs: options.leaseMs ?? 30_000,
    retentionMs: options.retentionMs ?? 24 * 3_600_000,
    ...(options.maxQueued === undefined ? {} : { maxQueued: options.maxQueued }),
    ...(options.maxPeers === undefined ? {} : { maxPeers: options.maxPeers }),
    requestShutdown: () => void shutdowns++,
  });
  const context = core.context;
  const fetch = (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has("host")) headers.set("host", `127.0.0.1:${port}`);
    const length = knownLength(init.body);
    if (length !== undefined && !headers.has("content-length")) {
      headers.set("content-length", String(length));
    }
    return core.handle(new Request(`http://127.0.0.1:${port}${path}`, { ...init, headers }));
  };
  const call = async (method: string, path: string, body?: unknown, session?: string) => {
    const headers: Record<string, string> = { authorization: `Bearer ${secret}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (session) headers[SESSION_HEADER] = session;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(path, init);
    const reply = await response.json();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${reply.error}`);
    return reply;
  };
  return {
    context,
    secret,
    port,
    shutdownRequests: () => shutdowns,
    fetch,
    call,
    async [Symbol.asyncDispose]() {
      core.close();
      // Closing a stream removes its peer in the background; let that finish first.
      await new Promise((resolve) => setTimeout(resolve, 0));
      kv.close();
    },
  };
}

function knownLength(body: BodyInit | null | undefined): number | undefined {
  if (typeof body === "string") return new TextEncoder().encode(body).byteLength;
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) return body.byteLength;
  if (body instanceof Blob) return body.size;
  return undefined;
}
