/**
 * The wire contract between the broker, the MCP server and the CLI: zod schemas and the
 * types inferred from them. Every request body, response body and stream event is declared
 * here once; no other module re-declares a protocol shape.
 *
 * @module
 */
import { z } from "../vendor/zod_v3.js";
import { CLAUDE_SESSION_PATTERN } from "./wire.ts";

/** Longest message text, in UTF-8 bytes: fits one Deno KV value (64 KiB) with room for metadata. */
export const MAX_MESSAGE_BYTES = 32 * 1024;
/** Longest summary, in characters. */
export const MAX_SUMMARY_CHARS = 500;
/** Longest request body the broker reads, in bytes: a longest message even if JSON escapes every byte. */
export const MAX_BODY_BYTES = 256 * 1024;
/** Most messages in one POST /send_batch. */
export const MAX_BATCH_MESSAGES = 100;
/** Unacknowledged messages one recipient may have queued before sends to it are refused. */
export const MAX_QUEUED_PER_PEER = 1000;
/** Peers one broker serves at most. */
export const MAX_PEERS = 500;

export { CLAIM_MS, CLAUDE_SESSION_HEADER, SESSION_HEADER } from "./wire.ts";

/** A Claude Code session id, as `CLAUDE_CODE_SESSION_ID` and the hooks' `session_id` carry it. */
export const ClaudeSessionId = z.string().regex(
  CLAUDE_SESSION_PATTERN,
  "a Claude Code session id is 1-128 of A-Z a-z 0-9 _ -",
);

/**
 * How a peer hears a message: pushed into the conversation (`channel`), woken or told by its
 * Claude Code hooks (`hooks`), or only when its model next calls a claude-peers tool.
 */
export const DeliveryMode = z.enum(["channel", "hooks", "tool_call"]);
/** How a peer hears a message. */
export type DeliveryMode = z.infer<typeof DeliveryMode>;

/** Who shows claimed messages to the model. */
export const Presenter = z.enum(["tool_result", "check_messages", "hook_context", "hook_wake"]);
/** Who shows claimed messages to the model. */
export type Presenter = z.infer<typeof Presenter>;

/** A peer id: short, lowercase, URL-safe. */
export const PeerId = z.string().regex(
  /^[a-z0-9]{8}$/,
  "a peer id is 8 lowercase letters or digits",
);
/** A peer id. */
export type PeerId = z.infer<typeof PeerId>;

/** Where to look for peers. */
export const Scope = z.enum(["machine", "directory", "repo"]);
/** Where to look for peers. */
export type Scope = z.infer<typeof Scope>;

const summaryText = z.string().max(
  MAX_SUMMARY_CHARS,
  `a summary is at most ${MAX_SUMMARY_CHARS} characters`,
);

/** Who sent a message: a registered peer or a person or script through the CLI. */
export const SenderKind = z.enum(["peer", "cli"]);
/** Who sent a message. */
export type SenderKind = z.infer<typeof SenderKind>;

/** A peer as listed by the broker. */
export const Peer = z.object({
  id: PeerId,
  pid: z.number().int(),
  cwd: z.string(),
  git_root: z.string().nullable(),
  repo: z.string().nullable(),
  tty: z.string().nullable(),
  summary: z.string(),
  registered_at: z.string(),
  last_seen: z.string(),
  connected: z.boolean(),
  delivery: DeliveryMode,
});
/** A peer as listed by the broker. */
export type Peer = z.infer<typeof Peer>;

/** A queued message, as stored and as streamed to its recipient. */
export const Message = z.object({
  id: z.string(),
  to_id: PeerId,
  from_id: z.string(),
  from_kind: SenderKind,
  from_summary: z.string(),
  from_cwd: z.string(),
  text: z.string(),
  sent_at: z.string(),
});
/** A queued message. */
export type Message = z.infer<typeof Message>;

/** POST /register: a peer says who it is; `resume` keeps its id across broker restarts. */
export const RegisterRequest = z.object({
  pid: z.number().int().positive(),
  cwd: z.string().min(1).max(4096),
  git_root: z.string().max(4096).nullable(),
  repo: z.string().max(4096).nullable(),
  tty: z.string().max(256).nullable(),
  summary: summaryText.default(""),
  resume: z.object({ peer_id: PeerId, session: z.string().min(1).max(128) }).optional(),
  /** The Claude Code session this server serves: its hooks find the same peer. */
  claude_session_id: ClaudeSessionId.optional(),
  /** Whether Claude Code shows this server's channel notifications. */
  channel: z.boolean().default(false),
}).strict();
/** POST /register body, as a client sends it. */
export type RegisterRequest = z.input<typeof RegisterRequest>;
/** POST /register body, as the broker has validated it. */
export type RegisterFields = z.output<typeof RegisterRequest>;

/** POST /register reply: the peer id and the credential that proves it. */
export const RegisterResponse = z.object({
  peer_id: PeerId,
  session: z.string(),
  resumed: z.boolean(),
});
/** POST /register reply. */
export type RegisterResponse = z.infer<typeof RegisterResponse>;

/** POST /peers: list peers; a peer caller is left out of its own listing. */
export const ListPeersRequest = z.object({ scope: Scope.default("machine") }).strict();
/** POST /peers body. */
export type ListPeersRequest = z.input<typeof ListPeersRequest>;

/** POST /peers reply. */
export const ListPeersResponse = z.object({ peers: z.array(Peer) });
/** POST /peers reply. */
export type ListPeersResponse = z.infer<typeof ListPeersResponse>;

/** POST /send: queue a message; the sender is the session's peer, or the CLI. */
export const SendRequest = z.object({
  to_id: PeerId,
  text: z.string().min(1, "a message cannot be empty"),
  from_name: z.string().regex(
    /^[A-Za-z0-9_.-]{1,32}$/,
    "a sender name is 1-32 of A-Z a-z 0-9 _ . -",
  )
    .refine((name) => !/^[a-z0-9]{8}$/.test(name), "a sender name cannot look like a peer id")
    .optional(),
  /** Retrying a send with the same key queues the message once. */
  idempotency_key: z.string().min(1).max(64).optional(),
}).strict();
/** POST /send body. */
export type SendRequest = z.input<typeof SendRequest>;

/** POST /send reply: the message id and how its recipient will hear it. */
export const SendResponse = z.object({
  message_id: z.string(),
  recipient_connected: z.boolean(),
  recipient_delivery: DeliveryMode,
});
/** POST /send reply. */
export type SendResponse = z.infer<typeof SendResponse>;

/** One message of a batch: what POST /send takes from a peer. */
export const BatchedSend = SendRequest.omit({ from_name: true });
/** One message of a batch. */
export type BatchedSend = z.input<typeof BatchedSend>;

/**
 * POST /send_batch: a peer's messages in the order it sent them; the broker queues them in that
 * order. Each succeeds or fails on its own.
 */
export const SendBatchRequest = z.object({
  messages: z.array(BatchedSend).min(1).max(MAX_BATCH_MESSAGES),
}).strict();
/** POST /send_batch body. */
export type SendBatchRequest = z.input<typeof SendBatchRequest>;

/**
 * Why the broker refused a request: stable across versions, so front ends branch on it (never
 * on an HTTP status) and word their own advice for their reader.
 */
export const ErrorCode = z.enum([
  /** The body or a parameter is malformed. */
  "bad_request",
  /** The user secret is missing or wrong. */
  "unauthorized",
  /** The peer session credential is missing, unknown or expired. */
  "session_unknown",
  /** The caller's own peer is not (or no longer) registered. */
  "not_registered",
  /** The recipient peer is not registered. */
  "peer_not_found",
  /** The recipient's session has ended. */
  "peer_gone",
  /** The recipient has the most undelivered messages it may queue. */
  "queue_full",
  /** The broker serves the most peers it may. */
  "too_many_peers",
  /** A message or request body is larger than the limit. */
  "too_large",
  /** A web page or a foreign Host: refused. */
  "forbidden",
  /** The body is not JSON (Content-Type). */
  "unsupported_media_type",
  /** No such endpoint. */
  "no_such_endpoint",
  /** The endpoint exists, but not with that method. */
  "method_not_allowed",
  /** The broker failed; the message says how. */
  "internal",
]);
/** Why the broker refused a request. */
export type ErrorCode = z.infer<typeof ErrorCode>;

/** The outcome of one message of a batch: its reply, or the error a single send would give. */
export const BatchResult = z.union([
  SendResponse.extend({ ok: z.literal(true) }),
  z.object({
    ok: z.literal(false),
    status: z.number().int(),
    code: ErrorCode,
    error: z.string(),
  }),
]);
/** The outcome of one message of a batch. */
export type BatchResult = z.infer<typeof BatchResult>;

/** POST /send_batch reply, one result per message, in order. */
export const SendBatchResponse = z.object({ results: z.array(BatchResult) });
/** POST /send_batch reply. */
export type SendBatchResponse = z.infer<typeof SendBatchResponse>;

/** POST /summary: a peer says what it is working on. */
export const SummaryRequest = z.object({ summary: summaryText }).strict();
/** POST /summary body. */
export type SummaryRequest = z.input<typeof SummaryRequest>;

/** POST /inbox: the caller's queued, unacknowledged messages. */
export const InboxResponse = z.object({ messages: z.array(Message) });
/** POST /inbox reply. */
export type InboxResponse = z.infer<typeof InboxResponse>;

/** POST /claim: take the caller's unclaimed messages to show them now (then POST /ack). */
export const ClaimRequest = z.object({ presenter: Presenter }).strict();
/** POST /claim body. */
export type ClaimRequest = z.input<typeof ClaimRequest>;

/**
 * POST /claim reply: the messages now held for the caller for {@link CLAIM_MS}. A hook gets
 * none while its session's messages are pushed as channel notifications.
 */
export const ClaimResponse = z.object({ messages: z.array(Message), delivery: DeliveryMode });
/** POST /claim reply. */
export type ClaimResponse = z.infer<typeof ClaimResponse>;

/**
 * POST /wait reply, sent when there is something to say: messages claimed for the waiting hook,
 * a newer waiter of the same session took over, the session's messages go to its channel, or
 * the session's peer is not connected (gone, or not registered yet).
 */
export const WaitResponse = z.discriminatedUnion("state", [
  z.object({ state: z.literal("messages"), messages: z.array(Message) }),
  z.object({ state: z.literal("replaced") }),
  z.object({ state: z.literal("channel") }),
  z.object({ state: z.literal("absent") }),
]);
/** POST /wait reply. */
export type WaitResponse = z.infer<typeof WaitResponse>;

/** What Claude Code's HTTP hooks POST: the hook's JSON (other fields are ignored). */
export const HookInput = z.object({
  session_id: ClaudeSessionId,
  hook_event_name: z.string().regex(/^[A-Za-z]{1,40}$/, "a hook event name is 1-40 letters"),
});
/** POST /hook/context body. */
export type HookInput = z.infer<typeof HookInput>;

/** POST /hook/context reply with messages: Claude Code's hook output. */
export interface HookContextReply {
  hookSpecificOutput: { hookEventName: string; additionalContext: string };
}

/** POST /ack: the caller has presented these messages; the broker deletes them. */
export const AckRequest = z.object({ ids: z.array(z.string().max(64)).min(1).max(1000) }).strict();
/** POST /ack body. */
export type AckRequest = z.input<typeof AckRequest>;

/** POST /ack reply: how many of the ids were still queued. */
export const AckResponse = z.object({ removed: z.number().int() });
/** POST /ack reply. */
export type AckResponse = z.infer<typeof AckResponse>;

/** A message the caller sent that its recipient has not acknowledged yet. */
export const PendingSend = z.object({
  message_id: z.string(),
  to_id: PeerId,
  sent_at: z.string(),
  recipient_connected: z.boolean(),
  recipient_delivery: DeliveryMode,
});
/** POST /outbox reply: the caller's sent messages not yet delivered. */
export const OutboxResponse = z.object({ pending: z.array(PendingSend) });
/** POST /outbox reply. */
export type OutboxResponse = z.infer<typeof OutboxResponse>;

/** GET /health: enough to tell a claude-peers broker from another server; no peer data. */
export const HealthResponse = z.object({
  service: z.literal("claude-peers"),
  version: z.string(),
  /** With `?challenge=C`: HMAC-SHA256(secret, C), the broker's proof that it is ours. */
  proof: z.string().optional(),
});
/** GET /health reply. */
export type HealthResponse = z.infer<typeof HealthResponse>;

/** GET /status: the broker's own state. */
export const StatusResponse = z.object({
  version: z.string(),
  pid: z.number().int(),
  port: z.number().int(),
  db_path: z.string(),
  started_at: z.string(),
  uptime_ms: z.number(),
  peer_count: z.number().int(),
});
/** GET /status reply. */
export type StatusResponse = z.infer<typeof StatusResponse>;

/** One line of the GET /stream NDJSON body. */
export const StreamEvent = z.discriminatedUnion("type", [
  z.object({ type: z.literal("hello"), peer_id: PeerId }),
  z.object({ type: z.literal("message"), message: Message }),
]);
/** One line of the GET /stream NDJSON body. */
export type StreamEvent = z.infer<typeof StreamEvent>;

/** The body of every error reply: a sentence for people and a code for programs. */
export const ErrorResponse = z.object({ error: z.string(), code: ErrorCode });
/** The body of every error reply. */
export type ErrorResponse = z.infer<typeof ErrorResponse>;

/** Turns a zod error into one sentence naming the fields at fault. */
export function describeZodError(error: z.ZodError): string {
  return error.issues.map((issue) => {
    const where = issue.path.length > 0 ? `"${issue.path.join(".")}"` : "body";
    return `${where}: ${issue.message}`;
  }).join("; ");
}
