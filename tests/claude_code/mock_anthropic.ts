/**
 * A mock of the Anthropic Messages API, enough for the real Claude Code CLI to hold a
 * conversation offline: `POST /v1/messages` (streamed as server-sent events when the request
 * says `stream: true`, else one JSON message), `POST /v1/messages/count_tokens`, and a harmless
 * answer to anything else. Every request is recorded with its arrival time; replies to the main
 * conversation come from a script the test fills, side requests (title generation, quota probes
 * and the like) always get a plain text answer and never consume scripted replies.
 *
 * @module
 */

/** One content block of a scripted assistant reply. */
export type ReplyBlock =
  | { type: "text"; text: string }
  | { type: "tool_use"; name: string; input: Record<string, unknown>; id?: string };

/** A scripted assistant reply: text, a tool call, or any list of blocks. */
export type ScriptedReply =
  | string
  | { toolUse: { name: string; input: Record<string, unknown>; id?: string }; text?: string }
  | { content: ReplyBlock[] };

/** What kind of request arrived, as the mock judged it. */
export type RequestKind = "main" | "side" | "count_tokens" | "other";

/** One request the mock received. */
export interface RecordedRequest {
  /** Position in arrival order, from 0. */
  index: number;
  /** `Date.now()` when the request arrived. */
  at: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** The parsed JSON body, or null when there was none or it was not JSON. */
  body: Record<string, unknown> | null;
  /** The raw body. */
  raw: string;
  kind: RequestKind;
  /** The content blocks the mock answered with (messages requests only). */
  reply?: ReplyBlock[];
}

/** Options of {@linkcode MockAnthropic}. */
export interface MockOptions {
  /** Answer to main-conversation requests when the script is empty; "ok" unless told. */
  defaultText?: string;
  /** Answer to side requests; "ok" unless told. */
  sideText?: string;
  /**
   * Decides whether a messages request belongs to the main conversation. The default: it
   * offers tools (Claude Code's agent loop always sends its tool list; title generation and
   * other side calls send none).
   */
  isMain?: (body: Record<string, unknown>) => boolean;
}

/** The default {@linkcode MockOptions.isMain}: the request carries a non-empty tool list. */
export function offersTools(body: Record<string, unknown>): boolean {
  return Array.isArray(body.tools) && body.tools.length > 0;
}

/** All text of a request body — system prompt, messages, tool results — as one string. */
export function requestText(request: RecordedRequest): string {
  return request.raw;
}

/** The text of the messages of a request (not the system prompt or tool list). */
export function messagesText(request: RecordedRequest): string {
  return JSON.stringify(request.body?.messages ?? []);
}

/** The last message of a messages request, if any. */
export function lastMessage(
  request: RecordedRequest,
): { role: string; content: unknown } | undefined {
  const messages = request.body?.messages;
  return Array.isArray(messages) ? messages.at(-1) : undefined;
}

/** The tool names a messages request offers. */
export function toolNames(request: RecordedRequest): string[] {
  const tools = request.body?.tools;
  return Array.isArray(tools) ? tools.map((tool) => String(tool?.name)) : [];
}

interface Waiter {
  predicate: (request: RecordedRequest) => boolean;
  since: number;
  resolve: (request: RecordedRequest) => void;
}

let nextId = 1;

function toBlocks(reply: ScriptedReply): ReplyBlock[] {
  if (typeof reply === "string") return [{ type: "text", text: reply }];
  if ("content" in reply) return reply.content;
  const blocks: ReplyBlock[] = [];
  if (reply.text) blocks.push({ type: "text", text: reply.text });
  blocks.push({ type: "tool_use", ...reply.toolUse });
  return blocks;
}

/** The mock server's state and request handler; serve it with {@linkcode MockAnthropic.handle}. */
export class MockAnthropic {
  readonly requests: RecordedRequest[] = [];
  readonly #script: ScriptedReply[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #options: MockOptions;

  constructor(options: MockOptions = {}) {
    this.#options = options;
  }

  /** Queues replies for the next main-conversation requests, in order. */
  enqueue(...replies: ScriptedReply[]): void {
    this.#script.push(...replies);
  }

  /** How many scripted replies are still waiting. */
  get pending(): number {
    return this.#script.length;
  }

  /** Main-conversation requests so far. */
  get mainRequests(): RecordedRequest[] {
    return this.requests.filter((request) => request.kind === "main");
  }

  /**
   * The first request (from position `since`, default 0) that satisfies the predicate,
   * waiting for it up to `timeoutMs`.
   */
  waitForRequest(
    predicate: (request: RecordedRequest) => boolean,
    timeoutMs = 30_000,
    since = 0,
  ): Promise<RecordedRequest> {
    const found = this.requests.slice(since).find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        since,
        resolve: (request) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(request);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(
          new Error(
            `no matching request within ${timeoutMs} ms; ${this.requests.length} arrived: ` +
              this.requests.map((r) => `${r.kind} ${r.method} ${r.path}`).join(", "),
          ),
        );
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** Waits for a main-conversation request whose messages contain `text`. */
  waitForText(text: string, timeoutMs = 30_000, since = 0): Promise<RecordedRequest> {
    return this.waitForRequest(
      (request) => request.kind === "main" && messagesText(request).includes(text),
      timeoutMs,
      since,
    );
  }

  #record(request: RecordedRequest): void {
    this.requests.push(request);
    for (const waiter of [...this.#waiters]) {
      if (request.index >= waiter.since && waiter.predicate(request)) waiter.resolve(request);
    }
  }

  /** The request handler, for `Deno.serve`. */
  handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const raw = req.method === "GET" || req.method === "HEAD" ? "" : await req.text();
    let body: Record<string, unknown> | null = null;
    try {
      const parsed = raw ? JSON.parse(raw) : null;
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) body = parsed;
    } catch {
      // not JSON: recorded raw
    }
    const headers: Record<string, string> = {};
    req.headers.forEach((value, key) => headers[key] = value);
    const request: RecordedRequest = {
      index: this.requests.length,
      at: Date.now(),
      method: req.method,
      path: url.pathname,
      headers,
      body,
      raw,
      kind: "other",
    };

    if (req.method === "POST" && url.pathname.endsWith("/messages/count_tokens")) {
      request.kind = "count_tokens";
      this.#record(request);
      return Response.json({ input_tokens: Math.max(1, Math.ceil(raw.length / 4)) });
    }
    if (req.method === "POST" && url.pathname.endsWith("/messages") && body) {
      const isMain = (this.#options.isMain ?? offersTools)(body);
      request.kind = isMain ? "main" : "side";
      const scripted = isMain ? this.#script.shift() : undefined;
      const blocks = toBlocks(
        scripted ??
          (isMain ? this.#options.defaultText ?? "ok" : this.#options.sideText ?? "ok"),
      ).map((block) =>
        block.type === "tool_use" ? { ...block, id: block.id ?? `toolu_mock_${nextId++}` } : block
      );
      request.reply = blocks;
      this.#record(request);
      const model = typeof body.model === "string" ? body.model : "claude-mock";
      return body.stream === true ? streamed(model, blocks) : Response.json(message(model, blocks));
    }
    this.#record(request);
    // Anything else (quota, feature flags, metrics, ...): an empty success.
    return Response.json({});
  };
}

const usage = {
  input_tokens: 10,
  output_tokens: 1,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
};

function stopReason(blocks: ReplyBlock[]): string {
  return blocks.some((block) => block.type === "tool_use") ? "tool_use" : "end_turn";
}

function message(model: string, blocks: ReplyBlock[]) {
  return {
    id: `msg_mock_${nextId++}`,
    type: "message",
    role: "assistant",
    model,
    content: blocks,
    stop_reason: stopReason(blocks),
    stop_sequence: null,
    usage,
  };
}

function streamed(model: string, blocks: ReplyBlock[]): Response {
  const events: [string, unknown][] = [
    ["message_start", {
      type: "message_start",
      message: { ...message(model, []), stop_reason: null },
    }],
  ];
  blocks.forEach((block, index) => {
    if (block.type === "text") {
      events.push(
        ["content_block_start", {
          type: "content_block_start",
          index,
          content_block: { type: "text", text: "" },
        }],
        ["content_block_delta", {
          type: "content_block_delta",
          index,
          delta: { type: "text_delta", text: block.text },
        }],
      );
    } else {
      events.push(
        ["content_block_start", {
          type: "content_block_start",
          index,
          content_block: { type: "tool_use", id: block.id, name: block.name, input: {} },
        }],
        ["content_block_delta", {
          type: "content_block_delta",
          index,
          delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input) },
        }],
      );
    }
    events.push(["content_block_stop", { type: "content_block_stop", index }]);
  });
  events.push(
    ["message_delta", {
      type: "message_delta",
      delta: { stop_reason: stopReason(blocks), stop_sequence: null },
      usage: { output_tokens: 1 },
    }],
    ["message_stop", { type: "message_stop" }],
  );
  const text = events.map(([event, data]) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    .join("");
  return new Response(text, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      "request-id": `req_mock_${nextId++}`,
    },
  });
}
