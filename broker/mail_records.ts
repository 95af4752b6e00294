/**
 * The stored shapes of the mailbox's records and the batched read both halves of the mailbox
 * use. Records carry their own `expires_at` because Deno KV's `expireIn` is lazy.
 *
 * @module
 */
import type { Message, PeerId, SenderKind } from "./protocol.ts";

/** The sender of a message, as the broker established it. */
export interface Sender {
  id: string;
  kind: SenderKind;
  summary: string;
  cwd: string;
}

/** A queued message as stored. */
export interface StoredMessage extends Message {
  expires_at: number;
  /** Until when a presenter holds it (claimed, not yet acknowledged); absent when unclaimed. */
  claimed_until?: number;
}

/** The message a stored record holds, without its bookkeeping. */
export function messageOf(stored: StoredMessage): Message {
  const { expires_at: _expires, claimed_until: _claimed, ...message } = stored;
  return message;
}

/** A sender's record of a message still queued. */
export interface OutboxRecord {
  to_id: PeerId;
  sent_at: string;
  expires_at: number;
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
