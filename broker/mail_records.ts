/**
 * The stored shapes of the mailbox's records and the batched read both halves of the mailbox
 * use. Records carry their own `expires_at` because Deno KV's `expireIn` is lazy.
 *
 * @module
 */
import type {
  DeliveryState,
  Message,
  PeerId,
  Presenter,
  SenderKind,
  ShownVia,
} from "./protocol.ts";

/** The sender of a message, as the broker established it. */
export interface Sender {
  id: string;
  /** The peer's name, or the CLI sender's. */
  name: string;
  kind: SenderKind;
  summary: string;
  cwd: string;
}

/**
 * A queued message as stored. The text is kept as UTF-8 bytes: V8 stores a string with one
 * character past Latin-1 at two bytes a character, so 32 KiB of UTF-8 text could overrun Deno
 * KV's 64 KiB value limit as a string, never as its bytes.
 */
export interface StoredMessage extends Omit<Message, "text"> {
  text_utf8: Uint8Array;
  expires_at: number;
  /** Until when a presenter holds it (claimed, not yet acknowledged); absent when unclaimed. */
  claimed_until?: number;
  /** Who claimed it last: how it was shown, when an acknowledgement does not say. */
  claimed_by?: Presenter;
}

/** A delivered (or expired) message in the history, kept until its own `expires_at`. */
export interface HistoryRecord extends Omit<StoredMessage, "claimed_until" | "claimed_by"> {
  state: Exclude<DeliveryState, "queued">;
  /** When it was shown or dropped. */
  state_at: number;
  via: ShownVia | null;
  /** The recipient's name when it was delivered, if it had one. */
  to_name?: string;
}

/** How a presenter shows what it claimed. */
export function viaOf(presenter: Presenter | undefined): ShownVia | undefined {
  if (presenter === undefined) return undefined;
  return presenter === "hook_context" || presenter === "hook_wake" ? "hook" : "tool_result";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The record that stores `message` until `expiresAt`. */
export function storedOf(message: Message, expiresAt: number): StoredMessage {
  const { text, ...rest } = message;
  return { ...rest, text_utf8: encoder.encode(text), expires_at: expiresAt };
}

/** The message a stored record holds, without its bookkeeping. */
export function messageOf(stored: StoredMessage): Message {
  const {
    expires_at: _expires,
    claimed_until: _claimed,
    claimed_by: _by,
    text_utf8,
    ...message
  } = stored;
  // Records written before the text was stored as bytes carry it as a string; records from
  // before names and threads carry neither.
  const legacy = stored as Partial<Message>;
  return {
    ...message,
    from_name: legacy.from_name ?? message.from_id,
    thread_id: legacy.thread_id ?? message.id,
    reply_to: legacy.reply_to ?? null,
    broadcast: legacy.broadcast ?? null,
    text: typeof legacy.text === "string" ? legacy.text : decoder.decode(text_utf8),
  };
}

/** Where a message sits in a conversation: what answering it needs after it was acknowledged. */
export interface ThreadRecord {
  from_id: string;
  from_name: string;
  from_kind: SenderKind;
  thread_id: string;
  broadcast: string | null;
  expires_at: number;
}

/** How a new message joins a conversation. */
export interface ThreadPlace {
  /** The thread it continues; absent for a new thread (its first message's id). */
  thread_id?: string;
  reply_to: string | null;
  broadcast: string | null;
}

/**
 * A sender's record of a message it sent: queued until acknowledged, then delivered. The
 * record outlives the message (`expires_at`), so an expired message still shows as expired.
 */
export interface OutboxRecord {
  to_id: PeerId;
  sent_at: string;
  /** When this record goes. */
  expires_at: number;
  /** When the message goes unless shown; absent on records of older brokers (= expires_at). */
  message_expires_at?: number;
  /** Absent while queued. */
  state?: "delivered";
  state_at?: number;
  via?: ShownVia;
}

/** What became of the message an outbox record is about, at `now`. */
export function outboxState(record: OutboxRecord, now: number): DeliveryState {
  if (record.state === "delivered") return "delivered";
  return (record.message_expires_at ?? record.expires_at) <= now ? "expired" : "queued";
}

/** Deno KV reads at most this many keys in one `getMany`. */
const GET_MANY_LIMIT = 10;

/** `kv.getMany` for any number of keys. */
export async function getMany<T>(kv: Deno.Kv, keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
  const entries: Deno.KvEntryMaybe<T>[] = [];
  for (let start = 0; start < keys.length; start += GET_MANY_LIMIT) {
    entries.push(...await kv.getMany<T[]>(keys.slice(start, start + GET_MANY_LIMIT)));
  }
  return entries;
}
