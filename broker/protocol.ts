/**
 * The wire contract between the broker, the MCP server and the CLI: zod schemas and the
 * types inferred from them. Every request body, response body and stream event is declared
 * here once; no other module re-declares a protocol shape.
 *
 * @module
 */
import { z } from "./_vendor/zod_v3.js";
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

/**
 * A peer's readable name: 1-32 of a-z 0-9 . _ - starting with a letter or digit, after trimming
 * and lowercasing; never shaped like a peer id (8 letters or digits) nor like a scope (`@…`),
 * so an address reads one way only.
 */
export const PeerName = z.string().trim().toLowerCase().regex(
  /^[a-z0-9][a-z0-9._-]{0,31}$/,
  "a name is 1-32 of a-z 0-9 . _ - starting with a letter or digit",
).refine(
  (name) => !/^[a-z0-9]{8}$/.test(name),
  "a name cannot look like a peer id (8 letters or digits)",
);
/** A peer's readable name. */
export type PeerName = z.infer<typeof PeerName>;

/** Everyone live in a scope relative to the sender, but the sender. */
export const BroadcastScope = z.enum(["@repo", "@directory", "@machine"]);
/** Everyone live in a scope relative to the sender. */
export type BroadcastScope = z.infer<typeof BroadcastScope>;

/** Most recipients one broadcast reaches; a larger scope is refused. */
export const MAX_FAN_OUT = 50;
/** Broadcasts one sender may make per {@link BROADCAST_WINDOW_MS}. */
export const MAX_BROADCASTS_PER_WINDOW = 3;
/** The window of the broadcast rate limit, in ms. */
export const BROADCAST_WINDOW_MS = 60_000;

/** Where a message goes: a peer id, a peer name, or a broadcast scope. */
export const Address = z.string().trim().min(1, "an address cannot be empty").max(
  64,
  "an address is at most 64 characters",
);

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
  name: z.string(),
  pid: z.number().int(),
  cwd: z.string(),
  git_root: z.string().nullable(),
  repo: z.string().nullable(),
  branch: z.string().nullable(),
  tty: z.string().nullable(),
  summary: z.string(),
  registered_at: z.string(),
  last_seen: z.string(),
  /** When the peer last called the broker for its model (a tool call, a hook, a send). */
  last_active: z.string(),
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
  /** The sender's name when it sent (a CLI sender's --from name, or "cli"). */
  from_name: z.string(),
  from_kind: SenderKind,
  from_summary: z.string(),
  from_cwd: z.string(),
  text: z.string(),
  sent_at: z.string(),
  /** The id of the thread's first message; a new message's own id. */
  thread_id: z.string(),
  /** The message this one answers, or null. */
  reply_to: z.string().nullable(),
  /** The scope a broadcast was sent to ("@repo"...), or null for a message to one peer. */
  broadcast: z.string().nullable(),
});
/** A queued message. */
export type Message = z.infer<typeof Message>;

/** POST /register: a peer says who it is; `resume` keeps its id across broker restarts. */
export const RegisterRequest = z.object({
  pid: z.number().int().positive(),
  cwd: z.string().min(1).max(4096),
  git_root: z.string().max(4096).nullable(),
  repo: z.string().max(4096).nullable(),
  /** The git branch of `cwd`: part of the default name when a repository has two sessions. */
  branch: z.string().max(256).nullable().default(null),
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
  name: z.string(),
  session: z.string(),
  resumed: z.boolean(),
});
/** POST /register reply. */
export type RegisterResponse = z.infer<typeof RegisterResponse>;

/** POST /peers: list peers; a peer caller is left out of its own listing. */
export const ListPeersRequest = z.object({ scope: Scope.default("machine") }).strict();
/** POST /peers body. */
export type ListPeersRequest = z.input<typeof ListPeersRequest>;

/** POST /peers reply; `self` is the calling peer, when a peer calls. */
export const ListPeersResponse = z.object({ peers: z.array(Peer), self: Peer.optional() });
/** POST /peers reply. */
export type ListPeersResponse = z.infer<typeof ListPeersResponse>;

/**
 * POST /send: queue a message; the sender is the session's peer, or the CLI. `to_id` is a peer
 * id, a peer name (resolved to the id of its live holder now) or a broadcast scope; with
 * `reply_to` and no `to_id`, the message goes to the replied message's sender only.
 */
export const SendRequest = z.object({
  to_id: Address.optional(),
  text: z.string().min(1, "a message cannot be empty"),
  /** The id of the message this one answers: the broker stamps the thread. */
  reply_to: z.string().min(1).max(64).optional(),
  from_name: z.string().regex(
    /^[A-Za-z0-9_.-]{1,32}$/,
    "a sender name is 1-32 of A-Z a-z 0-9 _ . -",
  )
    .refine((name) => !/^[a-z0-9]{8}$/.test(name), "a sender name cannot look like a peer id")
    .optional(),
  /** Retrying a send with the same key queues the message once. */
  idempotency_key: z.string().min(1).max(64).optional(),
}).strict().refine(
  (send) => send.to_id !== undefined || send.reply_to !== undefined,
  { message: "a message needs to_id, or reply_to to answer its sender", path: ["to_id"] },
);
/** POST /send body. */
export type SendRequest = z.input<typeof SendRequest>;

/** One recipient of a sent message: its copy and how it will hear it. */
export const SentCopy = z.object({
  message_id: z.string(),
  to_id: PeerId,
  to_name: z.string(),
  recipient_connected: z.boolean(),
  recipient_delivery: DeliveryMode,
});
/** One recipient of a sent message. */
export type SentCopy = z.infer<typeof SentCopy>;

/**
 * POST /send reply: the message id and how its recipient will hear it. A broadcast lists every
 * copy in `copies` (the top-level fields are the first copy's) and the live peers of the scope
 * it skipped because their queue was full.
 */
export const SendResponse = SentCopy.extend({
  thread_id: z.string(),
  reply_to: z.string().nullable(),
  broadcast: z.string().nullable(),
  copies: z.array(SentCopy),
  skipped: z.array(z.string()),
});
/** POST /send reply. */
export type SendResponse = z.infer<typeof SendResponse>;

/** One message of a batch: what POST /send takes from a peer. */
export const BatchedSend = SendRequest.innerType().omit({ from_name: true }).refine(
  (send) => send.to_id !== undefined || send.reply_to !== undefined,
  { message: "a message needs to_id, or reply_to to answer its sender", path: ["to_id"] },
);
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
 * POST /send_batch as the broker reads it: the list first, then each message on its own with
 * {@link BatchedSend}, so a malformed one fails alone and not the messages batched with it.
 */
export const SendBatchEnvelope = z.object({
  messages: z.array(z.unknown()).min(1).max(MAX_BATCH_MESSAGES),
}).strict();

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
  /** Another live peer has that name. */
  "name_taken",
  /** The replied-to message is unknown (never sent, or older than the retention). */
  "message_not_found",
  /** Too many broadcasts from one sender: the message names the wait in seconds. */
  "rate_limited",
  /** A broadcast's scope holds more peers than one message may reach. */
  "too_many_recipients",
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
  /** The disk holding the database is full: nothing was written, nothing stored is lost. */
  "storage_full",
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

/** POST /summary: a peer says what it is working on, and may take a name. */
export const SummaryRequest = z.object({
  summary: summaryText.optional(),
  name: PeerName.optional(),
})
  .strict();
/** POST /summary body. */
export type SummaryRequest = z.input<typeof SummaryRequest>;

/** POST /summary reply: the peer's name and summary now. */
export const SummaryResponse = z.object({ name: z.string(), summary: z.string() });
/** POST /summary reply. */
export type SummaryResponse = z.infer<typeof SummaryResponse>;

/** POST /name: a person names a live peer, given by id or by its current name. */
export const NameRequest = z.object({ peer: Address, name: PeerName }).strict();
/** POST /name body. */
export type NameRequest = z.input<typeof NameRequest>;

/** POST /name reply. */
export const NameResponse = z.object({ id: PeerId, name: z.string(), previous: z.string() });
/** POST /name reply. */
export type NameResponse = z.infer<typeof NameResponse>;

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
export const ClaimResponse = z.object({
  messages: z.array(Message),
  delivery: DeliveryMode,
  /** One claim takes a bounded page: unclaimed messages are left for the next one. */
  more: z.boolean().default(false),
});
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

/**
 * How a delivered message was shown to its recipient's model: pushed as a channel notification,
 * printed by one of the session's Claude Code hooks, or put in a tool result (check_messages
 * included).
 */
export const ShownVia = z.enum(["channel", "hook", "tool_result"]);
/** How a delivered message was shown. */
export type ShownVia = z.infer<typeof ShownVia>;

/**
 * POST /ack: the caller has presented these messages, `via` says how; the broker moves them
 * from the inbox to the history. Without `via`, the broker derives it from the claim.
 */
export const AckRequest = z.object({
  ids: z.array(z.string().max(64)).min(1).max(1000),
  via: ShownVia.optional(),
}).strict();
/** POST /ack body. */
export type AckRequest = z.input<typeof AckRequest>;

/** POST /ack reply: how many of the ids were still queued. */
export const AckResponse = z.object({ removed: z.number().int() });
/** POST /ack reply. */
export type AckResponse = z.infer<typeof AckResponse>;

/**
 * What became of a message: `queued` (not shown yet), `delivered` (shown to the recipient's
 * model) or `expired` (not shown within the retention period, then dropped).
 */
export const DeliveryState = z.enum(["queued", "delivered", "expired"]);
/** What became of a message. */
export type DeliveryState = z.infer<typeof DeliveryState>;

/** One message the caller sent, with what became of it. */
export const SentStatus = z.object({
  message_id: z.string(),
  to_id: PeerId,
  sent_at: z.string(),
  state: DeliveryState,
  /** When it was shown (delivered) or dropped (expired); null while queued. */
  state_at: z.string().nullable(),
  /** How it was shown; null unless delivered. */
  via: ShownVia.nullable(),
  recipient_connected: z.boolean(),
  recipient_delivery: DeliveryMode,
});
/** One message the caller sent, with what became of it. */
export type SentStatus = z.infer<typeof SentStatus>;
/** Most sent messages POST /outbox lists. */
export const OUTBOX_RECENT = 10;
/** POST /outbox reply: the caller's most recent sent messages, newest first. */
export const OutboxResponse = z.object({ sent: z.array(SentStatus) });
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
  /** Bytes of V8 heap in use, garbage not yet collected included (a diagnostic). */
  heap_used: z.number().int().nonnegative(),
});
/** GET /status reply. */
export type StatusResponse = z.infer<typeof StatusResponse>;

/** One line of the GET /stream NDJSON body. */
export const StreamEvent = z.discriminatedUnion("type", [
  z.object({ type: z.literal("hello"), peer_id: PeerId }),
  z.object({ type: z.literal("message"), message: Message }),
  /** The last line: a newer stream of the same peer (another server of its session) took over. */
  z.object({ type: z.literal("replaced") }),
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

/** Most entries one POST /log returns. */
export const MAX_LOG_ENTRIES = 1000;

/**
 * POST /log (user secret only, no peer session): the history and the queued messages, newest
 * matches kept, oldest first. `peer` matches the sender or the recipient by id or name.
 */
export const LogRequest = z.object({
  peer: z.string().min(1).max(64).optional(),
  thread: z.string().min(1).max(64).optional(),
  /** Only messages sent at or after this time. */
  since: z.string().datetime({ offset: true }).optional(),
  limit: z.number().int().min(1).max(MAX_LOG_ENTRIES).default(100),
}).strict();
/** POST /log body. */
export type LogRequest = z.input<typeof LogRequest>;

/** One message in the log: the message and what became of it. */
export const LogEntry = Message.extend({
  /** The recipient's name when the broker knew it. */
  to_name: z.string().optional(),
  state: DeliveryState,
  state_at: z.string().nullable(),
  via: ShownVia.nullable(),
});
/** One message in the log. */
export type LogEntry = z.infer<typeof LogEntry>;

/** POST /log reply; `more` when older matches were left out by the limit. */
export const LogResponse = z.object({ entries: z.array(LogEntry), more: z.boolean() });
/** POST /log reply. */
export type LogResponse = z.infer<typeof LogResponse>;

/** POST /log/clear reply: how many history records were deleted. */
export const ClearLogResponse = z.object({ removed: z.number().int() });
/** POST /log/clear reply. */
export type ClearLogResponse = z.infer<typeof ClearLogResponse>;

/** A peer as a live event shows it. */
export const EventPeer = z.object({
  id: PeerId,
  name: z.string().optional(),
  cwd: z.string(),
  repo: z.string().nullable(),
  branch: z.string().nullable().optional(),
  summary: z.string(),
});
/** A peer as a live event shows it. */
export type EventPeer = z.infer<typeof EventPeer>;

const at = z.string();
/** Longest `first_line` of a message_sent event, in characters. */
export const EVENT_LINE_CHARS = 200;

/**
 * One line of the GET /events NDJSON body (user secret only): what happens on the broker, as
 * it happens. `lagged` says a slow reader missed `dropped` events.
 */
export const BrokerEvent = z.discriminatedUnion("type", [
  z.object({ type: z.literal("hello"), at, version: z.string() }),
  z.object({ type: z.literal("peer_joined"), at, peer: EventPeer }),
  z.object({ type: z.literal("peer_left"), at, peer_id: PeerId, name: z.string().optional() }),
  z.object({
    type: z.literal("summary_changed"),
    at,
    peer_id: PeerId,
    name: z.string().optional(),
    summary: z.string(),
  }),
  z.object({
    type: z.literal("name_changed"),
    at,
    peer_id: PeerId,
    name: z.string(),
    previous: z.string().optional(),
  }),
  z.object({
    type: z.literal("message_sent"),
    at,
    message_id: z.string(),
    from_id: z.string(),
    from_name: z.string().optional(),
    from_kind: SenderKind,
    to_id: PeerId,
    to_name: z.string().optional(),
    thread_id: z.string().optional(),
    broadcast: z.string().nullable().optional(),
    first_line: z.string().max(EVENT_LINE_CHARS + 1),
  }),
  z.object({
    type: z.literal("message_delivered"),
    at,
    message_id: z.string(),
    from_id: z.string(),
    to_id: PeerId,
    via: ShownVia,
  }),
  z.object({ type: z.literal("lagged"), at, dropped: z.number().int().positive() }),
]);
/** One line of the GET /events NDJSON body. */
export type BrokerEvent = z.infer<typeof BrokerEvent>;
