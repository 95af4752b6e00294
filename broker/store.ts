/**
 * All Deno KV keys and transactions: peers, sessions, inboxes and outboxes. This is the only
 * module that spells a KV key. It takes an open `Deno.Kv`, so tests can pass `:memory:`.
 *
 * Deno KV's `expireIn` is lazy (expired keys are still returned for a while), so every record
 * carries its own `expires_at` and every read filters on it; `expireIn` only reclaims space.
 *
 * @module
 */
import type { Message, PeerId, RegisterFields, Scope, SenderKind } from "./protocol.ts";
import { hashToken, MessageIdGenerator, newPeerId, newSessionToken } from "./ids.ts";

/** A peer as stored. Times are milliseconds since the epoch. */
export interface PeerRecord {
  id: PeerId;
  pid: number;
  cwd: string;
  git_root: string | null;
  repo: string | null;
  tty: string | null;
  summary: string;
  registered_at: number;
  last_seen: number;
  expires_at: number;
}

interface SessionRecord {
  peer_id: PeerId;
  expires_at: number;
}

interface StoredMessage extends Message {
  expires_at: number;
}

interface OutboxRecord {
  to_id: PeerId;
  sent_at: string;
  expires_at: number;
}

/** A message the caller sent that is still queued. */
export interface QueuedSend {
  message_id: string;
  to_id: PeerId;
  sent_at: string;
}

/** Limits and lifetimes the store enforces. */
export interface StoreOptions {
  /** How long a peer stays listed without being refreshed, in ms. */
  leaseMs: number;
  /** How long an unacknowledged message (and a session) is kept, in ms. */
  retentionMs: number;
  /** Queued messages one recipient may have. */
  maxQueued: number;
  /** Peers listed at once. */
  maxPeers: number;
}

/** A refusal the caller can act on; `kind` picks the HTTP status. */
export class StoreError extends Error {
  override name = "StoreError";
  /** What went wrong, for the status mapping. */
  readonly kind: "not_found" | "limit" | "forbidden";
  constructor(kind: "not_found" | "limit" | "forbidden", message: string) {
    super(message);
    this.kind = kind;
  }
}

interface PendingSend {
  sender: Sender;
  text: string;
  now: number;
  idempotencyKey: string | undefined;
  resolve: (message: Message) => void;
  reject: (error: unknown) => void;
}

/** Sends in one group commit, kept inside Deno KV's per-transaction limits. */
function takeBatch(queue: PendingSend[]): PendingSend[] {
  let count = 0;
  let bytes = 0;
  while (
    count < queue.length && count < ENQUEUE_BATCH && (count === 0 || bytes < ENQUEUE_BATCH_BYTES)
  ) {
    bytes += queue[count]!.text.length * 3;
    count++;
  }
  return queue.splice(0, count);
}

/** The sender of a message, as the broker established it. */
export interface Sender {
  id: string;
  kind: SenderKind;
  summary: string;
  cwd: string;
}

const ACK_CHUNK = 40;
/** Sends in one group commit; each writes up to 3 keys, well inside Deno KV's limits. */
const ENQUEUE_BATCH = 100;
const ENQUEUE_BATCH_BYTES = 256 * 1024;
const LEASE_BATCH = 50;
const SESSION_CACHE_SIZE = 4096;

/** Peers, sessions and messages in one Deno KV database. */
export class BrokerStore {
  #kv: Deno.Kv;
  #options: StoreOptions;
  #ids = new MessageIdGenerator();
  #pendingSends = new Map<PeerId, PendingSend[]>();
  #draining = new Set<PeerId>();
  #sessions = new Map<string, SessionRecord>();
  #peers: Promise<Map<PeerId, PeerRecord>> | undefined;

  constructor(kv: Deno.Kv, options: StoreOptions) {
    this.#kv = kv;
    this.#options = options;
  }

  /** Registers a new peer, or resumes one whose session credential is still valid. */
  async register(
    request: RegisterFields,
    now: number,
  ): Promise<{ peer: PeerRecord; session: string; resumed: boolean }> {
    let peerId: PeerId | undefined;
    let session = request.resume?.session;
    if (request.resume && session) {
      const owner = await this.sessionOwner(session, now);
      if (owner === request.resume.peer_id) peerId = owner;
    }
    const resumed = peerId !== undefined;
    if (!resumed) {
      const live = await this.listPeers(now);
      if (live.length >= this.#options.maxPeers) {
        throw new StoreError(
          "limit",
          `Too many peers: the broker serves at most ${this.#options.maxPeers}`,
        );
      }
      peerId = newPeerId();
      session = newSessionToken();
    }
    const previous = resumed ? await this.getPeer(peerId!, 0) : null;
    const peer: PeerRecord = {
      id: peerId!,
      pid: request.pid,
      cwd: request.cwd,
      git_root: request.git_root,
      repo: request.repo,
      tty: request.tty,
      summary: request.summary || previous?.summary || "",
      registered_at: previous?.registered_at ?? now,
      last_seen: now,
      expires_at: now + this.#options.leaseMs,
    };
    const sessionRecord: SessionRecord = {
      peer_id: peer.id,
      expires_at: now + this.#options.retentionMs,
    };
    this.#sessions.delete(session!);
    const peers = await this.#peerMap();
    await this.#kv.atomic()
      .set(["peer", peer.id], peer, { expireIn: this.#options.leaseMs })
      .set(["session", await hashToken(session!)], sessionRecord, {
        expireIn: this.#options.retentionMs,
      })
      .commit();
    peers.set(peer.id, peer);
    return { peer, session: session!, resumed };
  }

  /** The peer id a session credential belongs to, or null when unknown or expired. */
  async sessionOwner(session: string, now: number): Promise<PeerId | null> {
    // The broker is the only process that writes the database, so a remembered session stays
    // true until it expires; this saves a SHA-256 and a read on every peer request.
    const known = this.#sessions.get(session);
    if (known && known.expires_at > now) return known.peer_id;
    const entry = await this.#kv.get<SessionRecord>(["session", await hashToken(session)]);
    if (!entry.value || entry.value.expires_at <= now) return null;
    if (this.#sessions.size >= SESSION_CACHE_SIZE) this.#sessions.clear();
    this.#sessions.set(session, entry.value);
    return entry.value.peer_id;
  }

  /** A live peer, or null. */
  async getPeer(id: string, now: number): Promise<PeerRecord | null> {
    const peer = (await this.#peerMap()).get(id);
    return peer && peer.expires_at > now ? peer : null;
  }

  /** Every live peer, in id order. */
  async listPeers(now: number): Promise<PeerRecord[]> {
    const peers = [...(await this.#peerMap()).values()].filter((peer) => peer.expires_at > now);
    return peers.sort((a, b) => a.id < b.id ? -1 : 1);
  }

  /**
   * Peers as last written. The broker is the only process that writes the database, so this
   * write-through copy stays exact and listings need no database read.
   */
  #peerMap(): Promise<Map<PeerId, PeerRecord>> {
    this.#peers ??= (async () => {
      const peers = new Map<PeerId, PeerRecord>();
      for await (const entry of this.#kv.list<PeerRecord>({ prefix: ["peer"] })) {
        peers.set(entry.value.id, entry.value);
      }
      return peers;
    })();
    return this.#peers;
  }

  /** Live peers in `scope` as seen from `caller`, the caller itself left out. */
  async listPeersInScope(
    scope: Scope,
    caller: PeerRecord | null,
    now: number,
  ): Promise<PeerRecord[]> {
    const peers = (await this.listPeers(now)).filter((peer) => peer.id !== caller?.id);
    if (scope === "machine") return peers;
    if (!caller) return [];
    if (scope === "directory") return peers.filter((peer) => peer.cwd === caller.cwd);
    if (caller.git_root === null) return [];
    return peers.filter((peer) => peer.git_root === caller.git_root);
  }

  /** Extends the lease of connected peers; peers removed meanwhile stay removed. */
  async refreshLeases(ids: Iterable<PeerId>, now: number): Promise<void> {
    // One read and a few batched writes, however many peers: this runs while everything idles.
    const connected = new Set(ids);
    const due: Deno.KvEntry<PeerRecord>[] = [];
    for await (const entry of this.#kv.list<PeerRecord>({ prefix: ["peer"] })) {
      if (connected.has(entry.value.id)) due.push(entry);
    }
    const peers = await this.#peerMap();
    for (let start = 0; start < due.length; start += LEASE_BATCH) {
      const op = this.#kv.atomic();
      const refreshed = due.slice(start, start + LEASE_BATCH).map((entry) => {
        const peer = { ...entry.value, last_seen: now, expires_at: now + this.#options.leaseMs };
        op.check(entry).set(entry.key, peer, { expireIn: this.#options.leaseMs });
        return peer;
      });
      // A conflict means a peer changed meanwhile (summary, removal); the next round catches up.
      if ((await op.commit()).ok) { for (const peer of refreshed) peers.set(peer.id, peer); }
    }
  }

  /** Caps every lease at `now + graceMs`: after a broker restart, peers must reconnect. */
  async capLeases(now: number, graceMs: number): Promise<void> {
    const peers = await this.#peerMap();
    for (const peer of [...peers.values()]) {
      const capped = { ...peer, expires_at: Math.min(peer.expires_at, now + graceMs) };
      await this.#kv.set(["peer", peer.id], capped, { expireIn: graceMs });
      peers.set(peer.id, capped);
    }
  }

  /** Removes a peer from listings; its inbox and session stay for the retention period. */
  async removePeer(id: PeerId): Promise<void> {
    const peers = await this.#peerMap();
    await this.#kv.delete(["peer", id]);
    peers.delete(id);
  }

  /** Sets a live peer's summary. */
  async setSummary(id: PeerId, summary: string, now: number): Promise<void> {
    const entry = await this.#kv.get<PeerRecord>(["peer", id]);
    if (!entry.value || entry.value.expires_at <= now) {
      throw new StoreError("not_found", `Peer "${id}" is not registered`);
    }
    const peer = { ...entry.value, summary };
    const peers = await this.#peerMap();
    const res = await this.#kv.atomic().check(entry).set(["peer", id], peer, {
      expireIn: Math.max(1, entry.value.expires_at - now),
    }).commit();
    if (!res.ok) return this.setSummary(id, summary, now);
    peers.set(id, peer);
  }

  /**
   * Queues a message for a live peer; it is durable when this resolves. A repeated
   * `idempotencyKey` from the same sender returns the first message instead of a copy.
   *
   * Sends to one recipient are committed one batch at a time (group commit): whatever arrived
   * while the previous batch was being written goes into the next transaction. That keeps ids
   * in commit order per recipient and the queue limit exact, at one write per batch.
   */
  enqueue(
    sender: Sender,
    toId: PeerId,
    text: string,
    now: number,
    idempotencyKey?: string,
  ): Promise<Message> {
    return new Promise((resolve, reject) => {
      const queue = this.#pendingSends.get(toId) ?? [];
      queue.push({ sender, text, now, idempotencyKey, resolve, reject });
      this.#pendingSends.set(toId, queue);
      if (queue.length === 1 && !this.#draining.has(toId)) this.#drainSends(toId);
    });
  }

  async #drainSends(toId: PeerId): Promise<void> {
    this.#draining.add(toId);
    try {
      for (;;) {
        const queue = this.#pendingSends.get(toId);
        if (!queue || queue.length === 0) break;
        const batch = takeBatch(queue);
        try {
          await this.#commitSends(toId, batch);
        } catch (error) {
          for (const send of batch) send.reject(error);
        }
      }
    } finally {
      this.#draining.delete(toId);
      this.#pendingSends.delete(toId);
    }
  }

  async #commitSends(toId: PeerId, batch: PendingSend[]): Promise<void> {
    const keyOf = (send: PendingSend) =>
      send.idempotencyKey ? ["send_key", send.sender.id, send.idempotencyKey] : undefined;
    // A retried send whose first attempt committed gets that message back.
    const fresh: PendingSend[] = [];
    const keyed = batch.filter((send) => keyOf(send));
    const earlier = await this.#getMany<Message>(keyed.map((send) => keyOf(send)!));
    const earlierByKey = new Map(
      keyed.map((send, i) => [JSON.stringify(keyOf(send)), earlier[i]!.value]),
    );
    for (const send of batch) {
      const found = earlierByKey.get(JSON.stringify(keyOf(send)));
      if (found) send.resolve(found);
      else fresh.push(send);
    }
    if (fresh.length === 0) return;
    const now = Math.max(...fresh.map((send) => send.now));
    if (!await this.getPeer(toId, now)) {
      const error = new StoreError(
        "not_found",
        `Peer "${toId}" is not registered (run "claude-peers peers")`,
      );
      for (const send of fresh) send.reject(error);
      return;
    }
    const queued = await this.queuedCount(toId);
    const room = Math.max(0, this.#options.maxQueued - queued);
    const refused = fresh.splice(room);
    if (refused.length > 0) {
      const full = new StoreError(
        "limit",
        `Peer "${toId}" has ${queued} undelivered messages, the most it may queue; try again once it reads them`,
      );
      for (const send of refused) send.reject(full);
    }
    if (fresh.length === 0) return;

    const expireIn = this.#options.retentionMs;
    const op = this.#kv.atomic();
    const written: [PendingSend, Message][] = [];
    const byKey = new Map<string, Message>();
    let created = 0;
    for (const send of fresh) {
      const key = keyOf(send);
      const duplicate = key ? byKey.get(JSON.stringify(key)) : undefined;
      if (duplicate) {
        written.push([send, duplicate]);
        continue;
      }
      const message: Message = {
        id: this.#ids.next(send.now),
        to_id: toId,
        from_id: send.sender.id,
        from_kind: send.sender.kind,
        from_summary: send.sender.summary,
        from_cwd: send.sender.cwd,
        text: send.text,
        sent_at: new Date(send.now).toISOString(),
      };
      const stored: StoredMessage = { ...message, expires_at: send.now + expireIn };
      op.set(["inbox", toId, message.id], stored, { expireIn });
      if (send.sender.kind === "peer") {
        const record: OutboxRecord = {
          to_id: toId,
          sent_at: message.sent_at,
          expires_at: stored.expires_at,
        };
        op.set(["outbox", send.sender.id, message.id], record, { expireIn });
      }
      if (key) {
        op.check({ key, versionstamp: null }).set(key, message, { expireIn });
        byKey.set(JSON.stringify(key), message);
      }
      written.push([send, message]);
      created++;
    }
    op.sum(["inbox_enqueued", toId], BigInt(created));
    if ((await op.commit()).ok) {
      for (const [send, message] of written) send.resolve(message);
      return;
    }
    // Only a send key written elsewhere meanwhile can fail the checks: settle them one by one.
    for (const send of fresh) await this.#commitSends(toId, [send]);
  }

  /**
   * The recipient's unexpired queued messages, oldest first; with `afterId`, only those
   * queued after that one. Sends to one recipient commit one batch at a time in id order, so
   * a reader that has seen `afterId` has seen every message before it.
   */
  async inbox(toId: PeerId, now: number, afterId?: string): Promise<Message[]> {
    const messages: Message[] = [];
    const expired: string[] = [];
    const selector: Deno.KvListSelector = afterId === undefined
      ? { prefix: ["inbox", toId] }
      : { prefix: ["inbox", toId], start: ["inbox", toId, `${afterId}\u0000`] };
    for await (const entry of this.#kv.list<StoredMessage>(selector)) {
      const { expires_at, ...message } = entry.value;
      if (expires_at <= now) expired.push(message.id);
      else messages.push(message);
    }
    if (expired.length > 0) await this.ack(toId, expired);
    return messages;
  }

  /** Deletes acknowledged messages of `toId`; returns how many were still queued. */
  async ack(toId: PeerId, ids: string[]): Promise<number> {
    let removed = 0;
    for (let start = 0; start < ids.length; start += ACK_CHUNK) {
      removed += await this.#ackChunk(toId, [...new Set(ids.slice(start, start + ACK_CHUNK))]);
    }
    return removed;
  }

  async #ackChunk(toId: PeerId, ids: string[]): Promise<number> {
    for (;;) {
      const entries = await this.#getMany<StoredMessage>(ids.map((id) => ["inbox", toId, id]));
      const present = entries.filter((entry) => entry.value !== null);
      if (present.length === 0) return 0;
      const op = this.#kv.atomic();
      for (const entry of present) {
        op.check(entry).delete(entry.key);
        const message = entry.value!;
        if (message.from_kind === "peer") op.delete(["outbox", message.from_id, message.id]);
      }
      op.sum(["inbox_removed", toId], BigInt(present.length));
      if ((await op.commit()).ok) return present.length;
    }
  }

  /** How many messages are queued for `toId`. */
  async queuedCount(toId: PeerId): Promise<number> {
    const [enqueued, removed] = await this.#kv.getMany<[Deno.KvU64, Deno.KvU64]>([
      ["inbox_enqueued", toId],
      ["inbox_removed", toId],
    ]);
    return Number((enqueued.value?.value ?? 0n) - (removed.value?.value ?? 0n));
  }

  /** Messages `fromId` sent that are still queued, oldest first. */
  async outbox(fromId: string, now: number): Promise<QueuedSend[]> {
    const pending: QueuedSend[] = [];
    for await (const entry of this.#kv.list<OutboxRecord>({ prefix: ["outbox", fromId] })) {
      if (entry.value.expires_at <= now) continue;
      pending.push({
        message_id: String(entry.key[2]),
        to_id: entry.value.to_id,
        sent_at: entry.value.sent_at,
      });
    }
    return pending;
  }

  /**
   * A stream that yields once now and again after each new message for `toId`.
   * `kv.watch` coalesces rapid writes, so a signal means "read the inbox", never "one message".
   */
  watchInbox(toId: PeerId): ReadableStream<unknown> {
    return this.#kv.watch([["inbox_enqueued", toId]]);
  }

  async #getMany<T>(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
    const entries: Deno.KvEntryMaybe<T>[] = [];
    for (let start = 0; start < keys.length; start += 10) {
      entries.push(...await this.#kv.getMany<T[]>(keys.slice(start, start + 10)));
    }
    return entries;
  }
}
