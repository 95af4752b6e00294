/**
 * HookClient: the few broker calls a hook makes (wait, claim, acknowledge), as the hook of one
 * Claude Code session. A waiting hook lives as long as its session idles, so this loads no
 * schema library: replies are JSON from our own broker, shape-checked here just enough to be
 * used safely; anything else counts as no answer. Everything else uses {@link BrokerClient}.
 *
 * @module
 */
import type { ClaimResponse, Message, Presenter, WaitResponse } from "./protocol.ts";
import type { Config } from "./config.ts";
import { CLAUDE_SESSION_HEADER } from "./wire.ts";
import { readSecret } from "./secret_file.ts";
import { brokerProof, newChallenge, PROOF_FRESH_MS } from "./broker_proof.ts";
import { type BrokerRoute, BrokerTransport } from "./broker_route.ts";

/** The broker did not answer, or not as a broker does. */
export class HookCallError extends Error {
  override name = "HookCallError";
}

/** Broker calls for the hooks of Claude Code session `claudeSession`. */
export class HookClient {
  #config: Config;
  /** One call per connection: a hook makes a few calls, far apart. */
  #transport: BrokerTransport;
  #claudeSession: string;
  #secret: Promise<string | null> | undefined;
  /** When the proven broker last answered (performance.now()); -Infinity: prove it first. */
  #lastReply = -Infinity;
  /** The route the last proof came by: credentials go by it only (broker_route.ts). */
  #route: BrokerRoute = "tcp";
  #reached = false;

  constructor(config: Config, claudeSession: string) {
    this.#config = config;
    this.#transport = new BrokerTransport(config);
    this.#claudeSession = claudeSession;
  }

  /** Whether this user's broker proved itself to this client at least once. */
  get reached(): boolean {
    return this.#reached;
  }

  /** POST /wait: until there are messages to wake the session with, or a reason to stop. */
  async wait(signal?: AbortSignal): Promise<WaitResponse> {
    const reply = await this.#post("/wait", {}, signal);
    const state = isObject(reply) ? reply.state : undefined;
    if (state === "messages" && isObject(reply) && isMessages(reply.messages)) {
      return { state, messages: reply.messages };
    }
    if (state === "replaced" || state === "channel" || state === "absent") return { state };
    throw new HookCallError("The broker gave a malformed /wait reply");
  }

  /** POST /claim for `presenter`. */
  async claim(presenter: Presenter, signal?: AbortSignal): Promise<Message[]> {
    const reply = await this.#post("/claim", { presenter }, signal) as Partial<ClaimResponse>;
    if (!isMessages(reply?.messages)) throw new HookCallError("Malformed /claim reply");
    return reply.messages;
  }

  /** POST /ack: these messages were shown. */
  async ack(ids: string[], signal?: AbortSignal): Promise<void> {
    // The broker counts a hook's acknowledgement as shown by a hook in any case.
    await this.#post("/ack", { ids, via: "hook" }, signal);
  }

  async #verify(secret: string, signal: AbortSignal | undefined): Promise<void> {
    const challenge = newChallenge();
    const { proof, route } = await proofFrom(this.#transport, this.#config, challenge, signal);
    this.#route = route;
    if (proof !== await brokerProof(secret, challenge)) {
      throw new HookCallError(
        `What answers on port ${this.#config.port} is not this user's broker`,
      );
    }
    this.#lastReply = performance.now();
    this.#reached = true;
  }

  async #post(path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    this.#secret ??= readSecret(this.#config.secretPath);
    const secret = await this.#secret;
    // No secret yet: no broker has run for this user, so there is nobody to ask.
    if (secret === null) {
      throw new HookCallError(`No claude-peers secret at ${this.#config.secretPath}`);
    }
    // Nothing goes to a program on the port that cannot prove it holds the secret: proven
    // again after a failure or a pause, when the broker may have died and the port changed hands.
    if (performance.now() - this.#lastReply > PROOF_FRESH_MS) await this.#verify(secret, signal);
    const init: RequestInit = {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${secret}`,
        [CLAUDE_SESSION_HEADER]: this.#claudeSession,
      },
      body: JSON.stringify(body),
    };
    if (signal) init.signal = signal;
    let response: Response;
    try {
      response = await this.#transport.fetch(this.#route, path, init);
    } catch (error) {
      this.#lastReply = -Infinity;
      throw new HookCallError(`No broker answers at ${this.#config.brokerUrl}`, { cause: error });
    }
    const reply = await response.json().catch(() => {
      this.#lastReply = -Infinity;
      return undefined;
    });
    if (reply !== undefined) this.#lastReply = performance.now();
    if (!response.ok) {
      throw new HookCallError(`The broker refused ${path}: HTTP ${response.status}`);
    }
    return reply;
  }
}

/** The same proof `BrokerClient.health()` asks for. */
async function proofFrom(
  transport: BrokerTransport,
  config: Config,
  challenge: string,
  signal: AbortSignal | undefined,
): Promise<{ proof: unknown; route: BrokerRoute }> {
  try {
    const init: RequestInit = signal ? { signal } : {};
    const { response, route } = await transport.fetchFirst(`/health?challenge=${challenge}`, init);
    const body = await response.json().catch(() => undefined);
    return { proof: isObject(body) ? body.proof : undefined, route };
  } catch (error) {
    throw new HookCallError(`No broker answers at ${config.brokerUrl}`, { cause: error });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

const MESSAGE_TEXT_FIELDS = [
  "id",
  "to_id",
  "from_id",
  "from_kind",
  "from_summary",
  "from_cwd",
  "text",
  "sent_at",
];

function isMessages(value: unknown): value is Message[] {
  return Array.isArray(value) &&
    value.every((message) =>
      isObject(message) && MESSAGE_TEXT_FIELDS.every((field) => typeof message[field] === "string")
    );
}
