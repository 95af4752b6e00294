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
import { defaultBase, freeDefaultName } from "./names.ts";

/** A peer as stored. Times are milliseconds since the epoch. */
export interface PeerRecord {
  id: PeerId;
  /** Unique among live peers; kept by the peer across resumptions while nobody took it. */
  name: string;
  pid: number;
  cwd: string;
  git_root: string | null;
  repo: string | null;
  branch: string | null;
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
  /** The name it held, given back if the same session comes back and nobody took it. */
  name?: string;
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

/** Where a peer's session credentials are stored, and until when. */
interface Credentials {
  keys: Deno.KvKey[];
  record: SessionRecord;
}

const LEASE_BATCH = 50;
const SESSION_CACHE_SIZE = 4096;

/** The peers and their sessions in one Deno KV database. */
export class PeerRegistry {
  #kv: Deno.Kv;
  #options: PeerRegistryOptions;
  #sessions = new Map<string, SessionRecord>();
  #peers: Promise<Map<PeerId, PeerRecord>> | undefined;
  /** When each peer last acted for its model; in memory only (a write per call would cost). */
  #activity = new Map<PeerId, number>();
  /** Registrations and renames run one at a time, so two live peers never take one name. */
  #naming: Promise<unknown> = Promise.resolve();
  /**
   * The credentials of the peers registered with this broker process, so a connected peer's are
   * extended with its lease: they expire a retention period after its session ended, not after
   * it registered.
   */
  #credentials = new Map<PeerId, Credentials>();

  constructor(kv: Deno.Kv, options: PeerRegistryOptions) {
    this.#kv = kv;
    this.#options = options;
  }

  /** Registers a new peer, or resumes one whose session credential is still valid. */
  register(request: RegisterFields, now: number): Promise<Registration> {
    return this.#oneAtATime(() => this.#register(request, now));
  }

  #oneAtATime<T>(action: () => Promise<T>): Promise<T> {
    const result = this.#naming.then(action);
    this.#naming = result.catch(() => {});
    return result;
  }

  async #register(request: RegisterFields, now: number): Promise<Registration> {
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
    const earlierName = previous?.name ??
      (resumedId ?? sessionPeer ? (await this.#ended(peerId, now))?.name : undefined);
    const peer: PeerRecord = {
      id: peerId,
      name: await this.#nameFor(peerId, earlierName, request, now),
      pid: request.pid,
      cwd: request.cwd,
      git_root: request.git_root,
      repo: request.repo,
      branch: request.branch,
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
    const keys: Deno.KvKey[] = [sessionKey(await hashToken(session))];
    if (peer.claude_session_id) keys.push(claudeSessionKey(peer.claude_session_id));
    const op = this.#kv.atomic()
      .set(peerKey(peer.id), peer, { expireIn: this.#options.leaseMs })
      .delete(endedKey(peer.id));
    for (const key of keys) op.set(key, sessionRecord, { expireIn: this.#options.retentionMs });
    await op.commit();
    peers.set(peer.id, peer);
    this.#activity.set(peer.id, now);
    this.#credentials.set(peer.id, { keys, record: sessionRecord });
    return { peer, session, resumed: resumedId !== null || sessionPeer !== null };
  }

  /** The name `id` keeps (its earlier one, while no other live peer holds it) or a default. */
  async #nameFor(
    id: PeerId,
    earlier: string | undefined,
    fields: Pick<PeerRecord, "cwd" | "git_root" | "repo" | "branch">,
    now: number,
  ): Promise<string> {
    const live = await this.listPeers(now);
    const taken = new Set(live.filter((peer) => peer.id !== id).map((peer) => peer.name));
    if (earlier && !taken.has(earlier)) return earlier;
    return freeDefaultName(defaultBase(fields), fields.branch, (name) => taken.has(name));
  }

  async #ended(id: PeerId, now: number): Promise<EndedRecord | null> {
    const entry = await this.#kv.get<EndedRecord>(endedKey(id));
    return entry.value && entry.value.expires_at > now ? entry.value : null;
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
    return (await this.#ended(id, now))?.ended_at ?? null;
  }

  /** The live peer called `name`, or null. */
  async findByName(name: string, now: number): Promise<PeerRecord | null> {
    return (await this.listPeers(now)).find((peer) => peer.name === name) ?? null;
  }

  /** Notes that `id` acted for its model now (a tool call, a hook, a send). */
  noteActivity(id: PeerId, now: number): void {
    if (this.#activity.has(id) || this.#activity.size < 4 * this.#options.maxPeers) {
      this.#activity.set(id, now);
    }
  }

  /** When `peer` last acted for its model, as this broker saw it; else when it registered. */
  lastActive(peer: PeerRecord): number {
    return this.#activity.get(peer.id) ?? peer.registered_at;
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

  /**
   * Extends the lease of connected peers, and their credentials once half their retention has
   * passed; peers removed meanwhile stay removed. A connected peer is live whatever the
   * database says, so its listing is extended even when the write fails (a full disk): the
   * failure is thrown after, and the next round writes again. A connected peer whose lease ran
   * out unrefreshed and left the listings (the broker stalled, the machine slept) is returned,
   * for its connection to be closed: its MCP server then registers again, and gets its name
   * back unless another peer took it meanwhile.
   */
  async refreshLeases(ids: Iterable<PeerId>, now: number): Promise<PeerId[]> {
    const connected = new Set(ids);
    const peers = await this.#peerMap();
    const leased = (peer: PeerRecord) => ({
      ...peer,
      last_seen: now,
      expires_at: now + this.#options.leaseMs,
    });
    const unknown: PeerId[] = [];
    for (const id of connected) {
      const peer = peers.get(id);
      if (peer) peers.set(id, leased(peer));
      else {
        connected.delete(id);
        unknown.push(id);
      }
    }
    // One read and a few batched writes, however many peers: this runs while everything idles.
    const stored = new Map<PeerId, Deno.KvEntry<PeerRecord>>();
    for await (const entry of this.#kv.list<PeerRecord>({ prefix: PEERS })) {
      if (connected.has(entry.value.id)) stored.set(entry.value.id, entry);
    }
    const due = [...connected];
    let failure: unknown;
    for (let start = 0; start < due.length; start += LEASE_BATCH) {
      const op = this.#kv.atomic();
      const extended: [Credentials, SessionRecord][] = [];
      for (const id of due.slice(start, start + LEASE_BATCH)) {
        const peer = peers.get(id);
        if (!peer) continue;
        // A record gone from the database (its expiry ran while writes failed) is written back.
        const entry = stored.get(id) ?? { key: peerKey(id), versionstamp: null };
        op.check(entry).set(peerKey(id), peer, { expireIn: this.#options.leaseMs });
        const credentials = this.#credentials.get(id);
        if (credentials && credentials.record.expires_at - now < this.#options.retentionMs / 2) {
          const record = { ...credentials.record, expires_at: now + this.#options.retentionMs };
          for (const key of credentials.keys) {
            op.set(key, record, { expireIn: this.#options.retentionMs });
          }
          extended.push([credentials, record]);
        }
      }
      // A conflict means a peer changed meanwhile (summary, removal); the next round catches up.
      const result = await op.commit().catch((error) => {
        failure ??= error;
        return null;
      });
      if (result?.ok) { for (const [credentials, record] of extended) credentials.record = record; }
    }
    await this.listPeers(now);
    if (failure !== undefined) throw failure;
    return unknown;
  }

  /** Caps every lease at `now + graceMs`: after a broker restart, peers must reconnect. */
  async capLeases(now: number, graceMs: number): Promise<void> {
    const peers = await this.#peerMap();
    const names = new Set([...peers.values()].map((peer) => peer.name).filter(Boolean));
    for (const peer of [...peers.values()]) {
      const capped = { ...peer, expires_at: Math.min(peer.expires_at, now + graceMs) };
      // Records from before names carry none: they get a default now.
      capped.branch ??= null;
      if (!capped.name) {
        capped.name = freeDefaultName(defaultBase(capped), null, (name) => names.has(name));
        names.add(capped.name);
      }
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
    const name = peers.get(id)?.name;
    if (name) ended.name = name;
    // Gone from the listings even when the write fails (a full disk): its lease then ends it.
    peers.delete(id);
    this.#activity.delete(id);
    this.#credentials.delete(id);
    await this.#kv.atomic()
      .delete(peerKey(id))
      .set(endedKey(id), ended, { expireIn: this.#options.retentionMs })
      .commit();
  }

  /** Sets a live peer's summary (after any rename in flight, which it must not undo). */
  setSummary(id: PeerId, summary: string, now: number): Promise<PeerRecord> {
    return this.#oneAtATime(() => this.#update(id, now, (peer) => ({ ...peer, summary })));
  }

  /** Gives the live peer `id` the name `name` (valid, normalised); refused if another holds it. */
  setName(id: PeerId, name: string, now: number): Promise<PeerRecord> {
    return this.#oneAtATime(async () => {
      const holder = await this.findByName(name, now);
      if (holder && holder.id !== id) {
        throw new Refusal(
          "name_taken",
          `Name "${name}" is taken by peer ${holder.id}`,
        );
      }
      return await this.#update(id, now, (peer) => ({ ...peer, name }));
    });
  }

  async #update(
    id: PeerId,
    now: number,
    change: (peer: PeerRecord) => PeerRecord,
  ): Promise<PeerRecord> {
    const peers = await this.#peerMap();
    for (;;) {
      // Liveness from the in-memory copy, which stays exact while a lease write fails.
      const live = peers.get(id);
      if (!live || live.expires_at <= now) {
        throw new Refusal("not_registered", `Peer "${id}" is not registered`);
      }
      const entry = await this.#kv.get<PeerRecord>(peerKey(id));
      const peer = change(live);
      const res = await this.#kv.atomic().check(entry).set(peerKey(id), peer, {
        expireIn: Math.max(1, live.expires_at - now),
      }).commit();
      if (res.ok) {
        // Removed while the write was in flight (its stream closed): it stays removed. A lease
        // refreshed meanwhile is kept.
        const current = peers.get(id);
        if (!current) return peer;
        const updated = change(current);
        peers.set(id, updated);
        return updated;
      }
    }
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
