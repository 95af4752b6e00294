/**
 * PeerRegistry: who is connected. Registration and resumption, session credentials, leases,
 * scopes and the broker's in-memory copy of the peers. It never touches messages.
 *
 * Deno KV's `expireIn` is lazy (expired keys are still returned for a while), so every record
 * carries its own `expires_at` and every read filters on it; `expireIn` only reclaims space.
 *
 * @module
 */
import type { PeerId, RegisterFields, Scope } from "./protocol.ts";
import { hashToken, newPeerId, newSessionToken } from "./ids.ts";
import { claudeSessionKey, endedKey, peerKey, PEERS, sessionKey } from "./kv_keys.ts";
import { Refusal } from "./refusal.ts";

/** A peer as stored. Times are milliseconds since the epoch. */
export interface PeerRecord {
  id: PeerId;
  pid: number;
  cwd: string;
  git_root: string | null;
  repo: string | null;
  tty: string | null;
  summary: string;
  /** The Claude Code session it serves, when Claude Code said. */
  claude_session_id: string | null;
  /** Whether its messages are pushed as channel notifications. */
  channel: boolean;
  registered_at: number;
  last_seen: number;
  expires_at: number;
}

interface SessionRecord {
  peer_id: PeerId;
  expires_at: number;
}

interface EndedRecord {
  ended_at: number;
  expires_at: number;
}

/** Lifetimes and limits the registry enforces. */
export interface PeerRegistryOptions {
  /** How long a peer stays listed without being refreshed, in ms. */
  leaseMs: number;
  /** How long a session credential is kept, in ms. */
  retentionMs: number;
  /** Peers listed at once. */
  maxPeers: number;
}

/** A registration as the registry answers it. */
export interface Registration {
  peer: PeerRecord;
  session: string;
  resumed: boolean;
}

const LEASE_BATCH = 50;
const SESSION_CACHE_SIZE = 4096;

/** The peers and their sessions in one Deno KV database. */
export class PeerRegistry {
  #kv: Deno.Kv;
  #options: PeerRegistryOptions;
  #sessions = new Map<string, SessionRecord>();
  #peers: Promise<Map<PeerId, PeerRecord>> | undefined;

  constructor(kv: Deno.Kv, options: PeerRegistryOptions) {
    this.#kv = kv;
    this.#options = options;
  }

  /** Registers a new peer, or resumes one whose session credential is still valid. */
  async register(request: RegisterFields, now: number): Promise<Registration> {
    const resumedId = request.resume
      ? await this.#resumable(request.resume.peer_id, request.resume.session, now)
      : null;
    // A server restarted inside the same Claude Code session keeps that session's peer.
    const sessionPeer = resumedId === null && request.claude_session_id
      ? await this.peerForClaudeSession(request.claude_session_id, now)
      : null;
    const peerId = resumedId ?? sessionPeer ?? await this.#newPeerId(now);
    const session = resumedId ? request.resume!.session : newSessionToken();
    const previous = (await this.#peerMap()).get(resumedId ?? sessionPeer ?? "");
    const peer: PeerRecord = {
      id: peerId,
      pid: request.pid,
      cwd: request.cwd,
      git_root: request.git_root,
      repo: request.repo,
      tty: request.tty,
      summary: request.summary || previous?.summary || "",
      claude_session_id: request.claude_session_id ?? null,
      channel: request.channel,
      registered_at: previous?.registered_at ?? now,
      last_seen: now,
      expires_at: now + this.#options.leaseMs,
    };
    const sessionRecord: SessionRecord = {
      peer_id: peer.id,
      expires_at: now + this.#options.retentionMs,
    };
    this.#sessions.delete(session);
    const peers = await this.#peerMap();
    const op = this.#kv.atomic()
      .set(peerKey(peer.id), peer, { expireIn: this.#options.leaseMs })
      .set(sessionKey(await hashToken(session)), sessionRecord, {
        expireIn: this.#options.retentionMs,
      })
      .delete(endedKey(peer.id));
    if (peer.claude_session_id) {
      op.set(claudeSessionKey(peer.claude_session_id), sessionRecord, {
        expireIn: this.#options.retentionMs,
      });
    }
    await op.commit();
    peers.set(peer.id, peer);
    return { peer, session, resumed: resumedId !== null || sessionPeer !== null };
  }

  async #resumable(peerId: PeerId, session: string, now: number): Promise<PeerId | null> {
    return await this.sessionOwner(session, now) === peerId ? peerId : null;
  }

  async #newPeerId(now: number): Promise<PeerId> {
    const live = await this.listPeers(now);
    if (live.length >= this.#options.maxPeers) {
      throw new Refusal(
        "too_many_peers",
        `Too many peers: the broker serves at most ${this.#options.maxPeers}`,
      );
    }
    return newPeerId();
  }

  /** The peer id a session credential belongs to, or null when unknown or expired. */
  async sessionOwner(session: string, now: number): Promise<PeerId | null> {
    // The broker is the only process that writes the database, so a remembered session stays
    // true until it expires; this saves a SHA-256 and a read on every peer request.
    const known = this.#sessions.get(session);
    if (known && known.expires_at > now) return known.peer_id;
    const entry = await this.#kv.get<SessionRecord>(sessionKey(await hashToken(session)));
    if (!entry.value || entry.value.expires_at <= now) return null;
    if (this.#sessions.size >= SESSION_CACHE_SIZE) this.#sessions.clear();
    this.#sessions.set(session, entry.value);
    return entry.value.peer_id;
  }

  /** The peer a Claude Code session's MCP server registered, or null. */
  async peerForClaudeSession(claudeSessionId: string, now: number): Promise<PeerId | null> {
    const entry = await this.#kv.get<SessionRecord>(claudeSessionKey(claudeSessionId));
    return entry.value && entry.value.expires_at > now ? entry.value.peer_id : null;
  }

  /** When the session of a peer that is no longer registered ended, or null if unknown. */
  async endedAt(id: PeerId, now: number): Promise<number | null> {
    const entry = await this.#kv.get<EndedRecord>(endedKey(id));
    return entry.value && entry.value.expires_at > now ? entry.value.ended_at : null;
  }

  /** A live peer, or null. */
  async getPeer(id: string, now: number): Promise<PeerRecord | null> {
    const peer = (await this.#peerMap()).get(id);
    return peer && peer.expires_at > now ? peer : null;
  }

  /** Every live peer, in id order; expired ones leave the in-memory copy. */
  async listPeers(now: number): Promise<PeerRecord[]> {
    const peers = await this.#peerMap();
    const live: PeerRecord[] = [];
    for (const peer of peers.values()) {
      if (peer.expires_at > now) live.push(peer);
      else peers.delete(peer.id);
    }
    return live.sort((a, b) => a.id < b.id ? -1 : 1);
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
    for await (const entry of this.#kv.list<PeerRecord>({ prefix: PEERS })) {
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
    await this.listPeers(now);
  }

  /** Caps every lease at `now + graceMs`: after a broker restart, peers must reconnect. */
  async capLeases(now: number, graceMs: number): Promise<void> {
    const peers = await this.#peerMap();
    for (const peer of [...peers.values()]) {
      const capped = { ...peer, expires_at: Math.min(peer.expires_at, now + graceMs) };
      await this.#kv.set(peerKey(peer.id), capped, { expireIn: graceMs });
      peers.set(peer.id, capped);
    }
  }

  /**
   * Removes a peer from listings and notes when its session ended; its inbox and session stay
   * for the retention period, so a peer that comes back finds its messages.
   */
  async removePeer(id: PeerId, now: number): Promise<void> {
    const peers = await this.#peerMap();
    const ended: EndedRecord = { ended_at: now, expires_at: now + this.#options.retentionMs };
    await this.#kv.atomic()
      .delete(peerKey(id))
      .set(endedKey(id), ended, { expireIn: this.#options.retentionMs })
      .commit();
    peers.delete(id);
  }

  /** Sets a live peer's summary. */
  async setSummary(id: PeerId, summary: string, now: number): Promise<void> {
    const entry = await this.#kv.get<PeerRecord>(peerKey(id));
    if (!entry.value || entry.value.expires_at <= now) {
      throw new Refusal("not_registered", `Peer "${id}" is not registered`);
    }
    const peer = { ...entry.value, summary };
    const peers = await this.#peerMap();
    const res = await this.#kv.atomic().check(entry).set(peerKey(id), peer, {
      expireIn: Math.max(1, entry.value.expires_at - now),
    }).commit();
    if (!res.ok) return this.setSummary(id, summary, now);
    peers.set(id, peer);
  }

  /**
   * Peers as last written. The broker is the only process that writes the database, so this
   * write-through copy stays exact and listings need no database read.
   */
  #peerMap(): Promise<Map<PeerId, PeerRecord>> {
    this.#peers ??= (async () => {
      const peers = new Map<PeerId, PeerRecord>();
      for await (const entry of this.#kv.list<PeerRecord>({ prefix: PEERS })) {
        peers.set(entry.value.id, entry.value);
      }
      return peers;
    })();
    return this.#peers;
  }
}
