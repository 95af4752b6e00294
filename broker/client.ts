/**
 * BrokerClient: one method per broker endpoint, every reply parsed with the protocol
 * schemas. Used by the MCP server, the CLI and the tests; the only code that speaks HTTP to
 * the broker.
 *
 * @module
 */
import type { z } from "./_vendor/zod_v3.js";
import {
  AckResponse,
  BrokerEvent,
  type ClaimRequest,
  ClaimResponse,
  ClearLogResponse,
  type ErrorCode,
  ErrorResponse,
  HealthResponse,
  InboxResponse,
  ListPeersResponse,
  type LogRequest,
  LogResponse,
  type NameRequest,
  NameResponse,
  OutboxResponse,
  type RegisterRequest,
  RegisterResponse,
  type Scope,
  type SendBatchRequest,
  SendBatchResponse,
  type SendRequest,
  SendResponse,
  SESSION_HEADER,
  type ShownVia,
  StatusResponse,
  StreamEvent,
  type SummaryRequest,
  SummaryResponse,
} from "./protocol.ts";
import type { Config } from "./config.ts";
import { loadOrCreateSecret } from "./secret.ts";
import { brokerProof, newChallenge, PROOF_FRESH_MS } from "./broker_proof.ts";
import { type BrokerRoute, BrokerTransport, type FirstReply } from "./broker_route.ts";

/** The lines of an NDJSON body, as they arrive. */
async function* ndjsonLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line !== "") yield line;
    }
  }
}

/** How long one broker call may take, reply body included. */
const CALL_TIMEOUT_MS = 5_000;

/**
 * Why a broker call failed: a protocol code, "unavailable" when no broker answered,
 * "not_a_broker" when something else answers on the port, or "impostor" when what answers like
 * a broker cannot prove it holds this user's secret.
 */
export type BrokerErrorCode = ErrorCode | "unavailable" | "not_a_broker" | "impostor";

/** The broker refused a call (`code` says why), or did not answer. */
export class BrokerError extends Error {
  override name = "BrokerError";
  /** What front ends branch on. */
  readonly code: BrokerErrorCode;
  /** HTTP status, or 0 when there was no answer. */
  readonly status: number;
  constructor(code: BrokerErrorCode, status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.status = status;
  }
}

/** Nothing answers on the broker's port. */
export class BrokerUnavailableError extends BrokerError {
  override name = "BrokerUnavailableError";
  constructor(message: string, options?: ErrorOptions) {
    super("unavailable", 0, message, options);
  }
}

/** Options for {@link BrokerClient}. */
export interface BrokerClientOptions {
  /**
   * Keep connections to the broker open between calls, for a client that calls often and
   * lives long (an MCP server); its owner then calls {@link BrokerClient.close}. @default false
   */
  keepAlive?: boolean;
}

/**
 * Talks to the broker at `config.brokerUrl` with the user secret and, once set, a session.
 * With `keepAlive`, `close()` (or disposal) ends its connections.
 */
export class BrokerClient implements Disposable {
  #config: Config;
  #transport: BrokerTransport;
  #secret: Promise<string> | undefined;
  /** The last proof that the broker holds the secret, or the one in flight. */
  #proof: Promise<void> | undefined;
  #proving = false;
  /** When the proven broker last answered (performance.now()). */
  #lastReply = -Infinity;
  /** The route the last proof came by: credentials go by it only (broker_route.ts). */
  #route: BrokerRoute | undefined;
  /** The peer session credential sent with peer requests. */
  session: string | undefined;

  constructor(config: Config, options: BrokerClientOptions = {}) {
    this.#config = config;
    this.#transport = new BrokerTransport(config, { keepAlive: options.keepAlive ?? false });
  }

  /** Closes kept-alive connections (a stream still open ends with them); calls after still work. */
  close(): void {
    this.#transport.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * GET /health with a fresh challenge, without credentials: resolves only when the broker
   * proves it holds this user's secret. Every authenticated call makes sure of that first.
   */
  async health(): Promise<HealthResponse> {
    const challenge = newChallenge();
    const { response, route } = await this.#fetchFirst(`/health?challenge=${challenge}`);
    const body = await response.json().catch(() => null);
    const parsed = HealthResponse.safeParse(body);
    if (!response.ok || !parsed.success) {
      throw new BrokerError(
        "not_a_broker",
        response.status,
        `Port ${this.#config.port} is held by a program that is not a claude-peers broker (set CLAUDE_PEERS_PORT)`,
      );
    }
    const expected = await brokerProof(await this.#loadSecret(), challenge);
    if (parsed.data.proof !== expected) {
      throw new BrokerError(
        "impostor",
        response.status,
        `Port ${this.#config.port} is held by a claude-peers broker that does not know your secret: another user's, or an impostor; nothing was sent to it`,
      );
    }
    // Proven: the calls that follow need not ask again (until the broker is lost or quiet).
    this.#proof ??= Promise.resolve();
    this.#route = route;
    this.#lastReply = performance.now();
    return parsed.data;
  }

  /**
   * Proves the broker before a credential goes out: again after any sign it went away (a
   * stream that ended, a failed call) and when it has not answered for {@link PROOF_FRESH_MS}.
   * A call made while a proof is in flight waits for that one.
   */
  #verifyBroker(): Promise<void> {
    if (
      this.#proof && (this.#proving || performance.now() - this.#lastReply <= PROOF_FRESH_MS)
    ) return this.#proof;
    this.#proving = true;
    const proof: Promise<void> = this.health().then(() => {
      if (this.#proof !== proof) return;
      this.#proving = false;
      this.#lastReply = performance.now();
    }, (error) => {
      if (this.#proof === proof) this.#forgetProof();
      throw error;
    });
    this.#proof = proof;
    return proof;
  }

  /** The broker may have gone: whatever answers next on the port must prove itself first. */
  #forgetProof(): void {
    this.#proof = undefined;
    this.#proving = false;
    this.#lastReply = -Infinity;
    this.#route = undefined;
  }

  #loadSecret(): Promise<string> {
    this.#secret ??= loadOrCreateSecret(this.#config.secretPath, this.#config.stateDir);
    return this.#secret;
  }

  /** GET /status. */
  status(): Promise<StatusResponse> {
    return this.#call("GET", "/status", undefined, StatusResponse);
  }

  /** POST /register; remembers the returned session. */
  async register(request: RegisterRequest): Promise<RegisterResponse> {
    const reply = await this.#call("POST", "/register", request, RegisterResponse);
    this.session = reply.session;
    return reply;
  }

  /** POST /peers. */
  listPeers(scope: Scope): Promise<ListPeersResponse> {
    return this.#call("POST", "/peers", { scope }, ListPeersResponse);
  }

  /** POST /send: as this session's peer, or as the CLI sender `from_name` without a session. */
  send(request: SendRequest): Promise<SendResponse> {
    return this.#call("POST", "/send", request, SendResponse);
  }

  /** POST /send_batch: this session's messages, queued in the given order. */
  sendBatch(request: SendBatchRequest): Promise<SendBatchResponse> {
    return this.#call("POST", "/send_batch", request, SendBatchResponse);
  }

  /** POST /summary: this peer's summary, name, or both. */
  setSummary(request: SummaryRequest): Promise<SummaryResponse> {
    return this.#call("POST", "/summary", request, SummaryResponse);
  }

  /** POST /name: names a live peer, as a person. */
  setName(request: NameRequest): Promise<NameResponse> {
    return this.#call("POST", "/name", request, NameResponse);
  }

  /** POST /inbox. */
  inbox(): Promise<InboxResponse> {
    return this.#call("POST", "/inbox", {}, InboxResponse);
  }

  /** POST /claim: this peer's unclaimed messages, held for the caller to show. */
  claim(request: ClaimRequest, signal?: AbortSignal): Promise<ClaimResponse> {
    return this.#call("POST", "/claim", request, ClaimResponse, signal);
  }

  /** POST /ack: these messages were shown, `via` says how. */
  ack(ids: string[], via?: ShownVia): Promise<AckResponse> {
    return this.#call("POST", "/ack", via ? { ids, via } : { ids }, AckResponse);
  }

  /** POST /outbox. */
  outbox(): Promise<OutboxResponse> {
    return this.#call("POST", "/outbox", {}, OutboxResponse);
  }

  /** POST /log: the history and the queued messages (the user's CLI only). */
  log(request: LogRequest): Promise<LogResponse> {
    return this.#call("POST", "/log", request, LogResponse);
  }

  /** POST /log/clear: deletes the history. */
  clearLog(): Promise<ClearLogResponse> {
    return this.#call("POST", "/log/clear", {}, ClearLogResponse);
  }

  /**
   * GET /events: yields the broker's live events until it ends the stream (it stopped) or
   * `signal` aborts. A line that is not an event this version knows is skipped.
   */
  async *events(signal: AbortSignal): AsyncGenerator<BrokerEvent> {
    const response = await this.#fetch("/events", { method: "GET", signal }, false);
    if (!response.ok || !response.body) throw await this.#errorOf(response);
    try {
      for await (const line of ndjsonLines(response.body)) {
        const parsed = BrokerEvent.safeParse(JSON.parse(line));
        if (parsed.success) yield parsed.data;
      }
    } finally {
      // The broker stopped or went away: whatever answers next must prove itself again.
      this.#forgetProof();
    }
  }

  /** POST /shutdown. */
  async shutdown(): Promise<void> {
    await this.#call("POST", "/shutdown", {}, undefined);
  }

  /** GET /stream: yields events until the broker ends the stream or `signal` aborts. */
  async *stream(signal: AbortSignal): AsyncGenerator<StreamEvent> {
    // The stream lives as long as the peer: no deadline, only the caller's signal.
    const response = await this.#fetch("/stream", { method: "GET", signal }, false);
    if (!response.ok || !response.body) throw await this.#errorOf(response);
    try {
      for await (const line of ndjsonLines(response.body)) {
        yield StreamEvent.parse(JSON.parse(line));
      }
    } finally {
      // However the stream ended, the broker may be gone (a SIGKILL ends it cleanly too).
      this.#forgetProof();
    }
  }

  async #call<T extends z.ZodTypeAny>(
    method: string,
    path: string,
    body: unknown,
    schema: T | undefined,
    signal?: AbortSignal,
  ): Promise<z.output<T>> {
    const init: RequestInit = { method };
    if (signal) init.signal = signal;
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await this.#fetch(path, init);
    if (!response.ok) throw await this.#errorOf(response);
    const value = await response.json().catch((error) => {
      this.#forgetProof();
      throw this.#unavailable(error);
    });
    return schema ? schema.parse(value) : value;
  }

  /**
   * One request. Every call but the stream has a deadline covering the reply's body too: a
   * stopped or stuck broker (or anything else holding the port) makes it fail, never hang.
   */
  async #fetch(
    path: string,
    init: RequestInit,
    deadline = true,
  ): Promise<Response> {
    if (deadline) {
      const timeout = AbortSignal.timeout(CALL_TIMEOUT_MS);
      init = { ...init, signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout };
    }
    const headers = new Headers(init.headers);
    if (init.body !== undefined) headers.set("content-type", "application/json");
    // No credential goes to a program that has not proved it is this user's broker.
    await this.#verifyBroker();
    headers.set("authorization", `Bearer ${await this.#loadSecret()}`);
    if (this.session) headers.set(SESSION_HEADER, this.session);
    try {
      // Credentials go only by the route the proof came by; a route that fails is forgotten
      // with the proof, and the next call proves again by whichever route then answers.
      const route = this.#route ?? "tcp";
      // Only the streams have no deadline: their replies are read as they come.
      const response = await this.#transport.fetch(route, path, { ...init, headers }, !deadline);
      this.#lastReply = performance.now();
      return response;
    } catch (error) {
      this.#forgetProof();
      throw this.#unavailable(error);
    }
  }

  /** The proof request (no credentials), by the Unix socket when it answers, else by TCP. */
  async #fetchFirst(path: string): Promise<FirstReply> {
    const signal = AbortSignal.timeout(CALL_TIMEOUT_MS);
    try {
      return await this.#transport.fetchFirst(path, { method: "GET", signal });
    } catch (error) {
      this.#forgetProof();
      throw this.#unavailable(error);
    }
  }

  #unavailable(error: unknown): Error {
    if (error instanceof DOMException && error.name === "AbortError") return error;
    if (error instanceof DOMException && error.name === "TimeoutError") {
      return new BrokerUnavailableError(
        `The broker on port ${this.#config.port} is not answering (no reply within ${
          CALL_TIMEOUT_MS / 1000
        } s): it may be stopped or stuck`,
        { cause: error },
      );
    }
    return new BrokerUnavailableError(`No broker answers at ${this.#config.brokerUrl}`, {
      cause: error,
    });
  }

  async #errorOf(response: Response): Promise<BrokerError> {
    const parsed = ErrorResponse.safeParse(await response.json().catch(() => null));
    if (parsed.success) {
      return new BrokerError(parsed.data.code, response.status, parsed.data.error);
    }
    return new BrokerError(
      "internal",
      response.status,
      `The broker answered HTTP ${response.status}`,
    );
  }
}
