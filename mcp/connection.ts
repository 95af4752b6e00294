/**
 * The MCP server's link to the broker: start it if needed, register (keeping the peer id
 * across broker restarts), hold the push stream open and reconnect with backoff when it
 * drops. Tools wait here (bounded) until the peer is registered.
 *
 * @module
 */
import type { Config } from "../broker/config.ts";
import { BrokerClient, BrokerError, BrokerUnavailableError } from "../broker/client.ts";
import { ensureBroker } from "../broker/spawn.ts";
import type { Message, PeerId, SummaryResponse } from "../broker/protocol.ts";
import type { SessionContext } from "./context.ts";
import { errorMessage, log } from "../broker/log.ts";

/** What the push stream reports to the rest of the server. */
export interface StreamListener {
  /**
   * A message arrived on the push stream (possibly again, after a reconnect). A returned
   * promise holds the stream until it settles: nothing more is read meanwhile, so the broker
   * stops reading this peer's inbox too.
   */
  onMessage: (message: Message) => void | Promise<void>;
}

/** Options for {@link PeerConnection}. */
export interface PeerConnectionOptions {
  /** How long a tool waits for registration. @default 8000 */
  readyTimeoutMs?: number;
  /**
   * Whether Claude Code shows this server's channel notifications, or a promise of that while
   * it is still being found out (registration waits for it). @default false
   */
  channel?: boolean | Promise<boolean>;
}

/** How long a tool waits for the broker through a restart: tools answer within seconds. */
const READY_TIMEOUT_MS = 8_000;
const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 2_000;
/**
 * How long a server whose stream another server of the same Claude Code session took over
 * (claude-peers registered twice) waits before it tries again: the two would otherwise take the
 * stream from each other without end.
 */
const REPLACED_BACKOFF_MS = 30_000;

/** Registration and push stream of one MCP server, kept alive until {@link close}. */
export class PeerConnection {
  #config: Config;
  #context: SessionContext | Promise<SessionContext>;
  #options: PeerConnectionOptions;
  #client: BrokerClient;
  #abort = new AbortController();
  #peerId: PeerId | undefined;
  #name: string | undefined;
  #summary = "";
  #ready!: PromiseWithResolvers<void>;
  #isReady = false;
  #lastError = "not connected yet";
  /** Why the program on the port is not trusted, while that is the latest news from it. */
  #refusal: BrokerError | undefined;
  #running: Promise<void> | undefined;
  /** Settles when the first registration attempt has an outcome (or must wait for a broker). */
  #firstAttempt = Promise.withResolvers<void>();
  /** Where pushed messages go; the stream opens once there is one. */
  #listener = Promise.withResolvers<StreamListener>();

  /**
   * `context` may be a promise while the session's facts are read: the broker is found (and
   * proven) meanwhile, and registration waits for them.
   */
  constructor(
    config: Config,
    context: SessionContext | Promise<SessionContext>,
    options: PeerConnectionOptions = {},
  ) {
    this.#config = config;
    this.#context = context;
    this.#options = options;
    // A server calls for its whole session: one connection, not one per call.
    this.#client = new BrokerClient(config, { keepAlive: true });
    this.#resetReady();
  }

  /** This peer's id once registered. */
  get peerId(): PeerId | undefined {
    return this.#peerId;
  }

  /** This peer's name as the broker last said. */
  get name(): string | undefined {
    return this.#name;
  }

  /** The summary this peer last set. */
  get summary(): string {
    return this.#summary;
  }

  /**
   * Starts connecting in the background and returns at once. Registration does not wait for a
   * listener (`claude-peers mcp` registers while the MCP SDK loads); the push stream opens once
   * one is given, here or by a later call (the first one given is kept).
   */
  start(listener?: StreamListener): void {
    if (listener) this.#listener.resolve(listener);
    this.#running ??= this.#run();
  }

  /**
   * Resolves once registered, or once the first attempt failed or waits for a broker to start,
   * or after `timeoutMs`, whichever comes first; never rejects.
   */
  async firstAttempt(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#firstAttempt.promise,
      new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
  }

  /** The client, once registered; waits (bounded) through broker start-up and restarts. */
  async client(): Promise<BrokerClient> {
    if (this.#isReady) return this.#client;
    // Another program holds the port: say so now instead of waiting for a broker.
    if (this.#refusal) throw this.#refusal;
    const timeoutMs = this.#options.readyTimeoutMs ?? READY_TIMEOUT_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new BrokerUnavailableError(`Cannot reach the claude-peers broker: ${this.#lastError}`),
        );
      }, timeoutMs);
    });
    try {
      await Promise.race([this.#ready.promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return this.#client;
  }

  /** Runs a broker call, waiting (bounded) through a broker restart that happens mid-call. */
  async call<T>(action: (client: BrokerClient) => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.#options.readyTimeoutMs ?? READY_TIMEOUT_MS);
    for (let attempt = 0;; attempt++) {
      try {
        return await action(await this.client());
      } catch (error) {
        if (!(error instanceof BrokerUnavailableError) || Date.now() > deadline) throw error;
        // The stream notices the lost broker on its own and reconnects; retry shortly after.
        await this.#sleep(Math.min(25 * 2 ** attempt, 500));
      }
    }
  }

  /**
   * Sets the summary (now and on every later re-registration) and the name, either or both;
   * the broker keeps the name with the peer across re-registrations.
   */
  async setSummary(change: { summary?: string; name?: string }): Promise<SummaryResponse> {
    const reply = await this.call((client) => client.setSummary(change));
    this.#summary = reply.summary;
    this.#name = reply.name;
    return reply;
  }

  /** Notes the name the broker reports for this peer (a person may have renamed it). */
  noteName(name: string): void {
    this.#name = name;
  }

  /** Ends the stream (the broker then drops this peer from listings) and stops reconnecting. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#running?.catch(() => {});
    this.#client.close();
  }

  async #run(): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    /** A `not_registered` answer registers again at once, but only once in a row. */
    let registeredAgain = false;
    const signal = this.#abort.signal;
    while (!this.#abort.signal.aborted) {
      let replaced = false;
      try {
        // Tools wait for this attempt instead of failing with the last one's refusal.
        this.#refusal = undefined;
        await ensureBroker(this.#config, {
          client: this.#client,
          onWait: () => this.#firstAttempt.resolve(),
        });
        await this.#register();
        const listener = await untilAborted(this.#listener.promise, signal);
        if (listener === undefined) break;
        for await (const event of this.#client.stream(this.#abort.signal)) {
          if (event.type === "hello") {
            backoff = MIN_BACKOFF_MS;
            registeredAgain = false;
          } else if (event.type === "replaced") {
            replaced = true;
          } else {
            const held = listener.onMessage(event.message);
            if (held) await untilAborted(held, signal);
          }
        }
        this.#markDisconnected(
          replaced
            ? "another claude-peers server of this Claude Code session took over its messages"
            : "the broker closed the stream",
        );
      } catch (error) {
        this.#firstAttempt.resolve();
        if (this.#abort.signal.aborted) break;
        this.#markDisconnected(errorMessage(error));
        if (isRefusal(error)) this.#refuse(error);
        if (error instanceof BrokerError && error.code === "not_registered" && !registeredAgain) {
          registeredAgain = true;
          continue;
        }
      }
      if (this.#abort.signal.aborted) break;
      const wait = replaced ? REPLACED_BACKOFF_MS : backoff;
      log(`disconnected from the broker (${this.#lastError}); reconnecting in ${wait} ms`);
      await this.#sleep(wait);
      if (!replaced) backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  async #register(): Promise<void> {
    const resume = this.#peerId && this.#client.session
      ? { peer_id: this.#peerId, session: this.#client.session }
      : undefined;
    const [context, channel] = await Promise.all([this.#context, this.#options.channel ?? false]);
    const reply = await this.#client.register({
      pid: context.pid,
      cwd: context.cwd,
      git_root: context.gitRoot,
      repo: context.repo,
      branch: context.branch,
      tty: context.tty,
      summary: this.#summary,
      channel,
      ...(resume ? { resume } : {}),
      ...(this.#config.claudeSessionId ? { claude_session_id: this.#config.claudeSessionId } : {}),
    });
    if (this.#peerId && reply.peer_id !== this.#peerId) {
      log(`the broker no longer knew peer ${this.#peerId}; registered again as ${reply.peer_id}`);
    }
    this.#peerId = reply.peer_id;
    this.#refusal = undefined;
    this.#name = reply.name;
    this.#isReady = true;
    this.#ready.resolve();
    this.#firstAttempt.resolve();
  }

  #markDisconnected(reason: string): void {
    this.#lastError = reason;
    if (!this.#isReady) return;
    this.#isReady = false;
    this.#resetReady();
  }

  #resetReady(): void {
    this.#ready = Promise.withResolvers<void>();
  }

  /** Tools waiting for the broker learn at once that the port is held by another program. */
  #refuse(error: BrokerError): void {
    this.#refusal = error;
    const waiting = this.#ready;
    this.#resetReady();
    waiting.promise.catch(() => {});
    waiting.reject(error);
  }

  /** Waits `ms`, or less when the connection closes meanwhile. */
  #sleep(ms: number): Promise<void> {
    return sleep(ms, this.#abort.signal);
  }
}

/**
 * Resolves after `ms`, or as soon as `signal` aborts. Not node:timers/promises: the first
 * `node:` module loads Node's polyfills, ~4 ms of the MCP server's start-up (issue 11).
 */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The program on the port is not this user's broker: nothing may be sent to it. */
function isRefusal(error: unknown): error is BrokerError {
  return error instanceof BrokerError &&
    (error.code === "impostor" || error.code === "not_a_broker");
}

/**
 * `promise`, or undefined once `signal` aborts. Unlike a race against one long-lived "aborted"
 * promise, it leaves nothing behind when `promise` settles first (such a race kept a reaction on
 * that promise for every message received: ~110 bytes each, for the session's lifetime).
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
