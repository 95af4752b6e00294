/**
 * The peer registry under interleaving and time: a write whose commit lands at once but whose
 * promise resolves late (a slow fsync) must not undo a rename or bring back a peer that left;
 * a connected peer's credentials last as long as it stays connected; a connected peer that
 * left the listings while the broker stalled is made to register again.
 *
 * @module
 */
import assert from "node:assert/strict";
import { PeerRegistry } from "../broker/peers.ts";
import { peerKey } from "../broker/kv_keys.ts";
import { REGISTRATION } from "./_fixtures/registration.ts";
import { createInProcessBroker } from "./_fixtures/in_process.ts";
import { within } from "./_fixtures/wait.ts";

const OPTIONS = { leaseMs: 1_000, retentionMs: 60_000, maxPeers: 10 };
const BOUND_MS = 3_000;

/**
 * `kv` whose atomic commit number `held` (from 1, counted from {@link holdCommit}) lands at once
 * and resolves only once `release()` is called; `landed` resolves when it has landed.
 */
function slowCommits(kv: Deno.Kv) {
  let count = 0;
  let held = 0;
  const landed = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const slow = new Proxy(kv, {
    get(target, property) {
      if (property === "atomic") {
        return () => {
          const op = target.atomic();
          const commit = op.commit.bind(op);
          op.commit = async () => {
            const result = await commit();
            if (++count === held) {
              landed.resolve();
              await release.promise;
            }
            return result;
          };
          return op;
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return {
    kv: slow,
    holdCommit(n: number) {
      count = 0;
      held = n;
    },
    landed: landed.promise,
    release: () => release.resolve(),
  };
}

Deno.test("a summary set while a rename commits keeps the rename, in memory and in the database", async () => {
  using memory = await Deno.openKv(":memory:");
  const commits = slowCommits(memory);
  const registry = new PeerRegistry(commits.kv, OPTIONS);
  const now = Date.now();
  const { peer } = await registry.register({ ...REGISTRATION, cwd: "/w/alpha" }, now);
  assert.equal(peer.name, "alpha");
  commits.holdCommit(1);
  const renamed = registry.setName(peer.id, "renamed", now);
  await within(commits.landed, "the rename's commit", BOUND_MS);
  const summarised = registry.setSummary(peer.id, "hello", now);
  commits.release();
  await within(renamed, "the rename", BOUND_MS);
  await within(summarised, "the summary", BOUND_MS);
  const listed = await registry.getPeer(peer.id, now);
  const stored = (await memory.get<typeof peer>(peerKey(peer.id))).value;
  for (const [where, record] of [["listed", listed], ["stored", stored]] as const) {
    assert.equal(record?.name, "renamed", `${where}: the rename holds`);
    assert.equal(record?.summary, "hello", `${where}: the summary holds`);
  }
});

Deno.test("a peer that leaves while its summary commits stays gone", async () => {
  using memory = await Deno.openKv(":memory:");
  const commits = slowCommits(memory);
  const registry = new PeerRegistry(commits.kv, OPTIONS);
  const now = Date.now();
  const { peer } = await registry.register(REGISTRATION, now);
  commits.holdCommit(1);
  const summarised = registry.setSummary(peer.id, "bye", now);
  await within(commits.landed, "the summary's commit", BOUND_MS);
  // Its stream closes: the broker removes it.
  await within(registry.removePeer(peer.id, now), "the removal", BOUND_MS);
  commits.release();
  await within(summarised, "the summary", BOUND_MS);
  assert.equal((await memory.get(peerKey(peer.id))).value, null, "gone from the database");
  assert.deepEqual(await registry.listPeers(now), [], "gone from the listings");
});

Deno.test("a connected peer's credentials outlast the retention period, across a broker restart", async () => {
  using kv = await Deno.openKv(":memory:");
  const options = { leaseMs: 1_000, retentionMs: 5_000, maxPeers: 10 };
  const claudeSession = "11111111-2222-3333-4444-555555555555";
  let registry = new PeerRegistry(kv, options);
  const start = Date.now();
  const { peer, session } = await registry.register(
    { ...REGISTRATION, claude_session_id: claudeSession },
    start,
  );
  // Connected throughout: the broker refreshes its lease every third of a lease.
  let now = start;
  for (; now <= start + 12_000; now += 300) await registry.refreshLeases([peer.id], now);
  assert.equal(await registry.sessionOwner(session, now), peer.id, "its credential still works");
  assert.equal(await registry.peerForClaudeSession(claudeSession, now), peer.id);
  // A broker restart: the MCP server resumes with its credential.
  registry = new PeerRegistry(kv, options);
  await registry.capLeases(now, options.leaseMs);
  const resumed = await registry.register({
    ...REGISTRATION,
    claude_session_id: claudeSession,
    resume: { peer_id: peer.id, session },
  }, now);
  assert.equal(resumed.peer.id, peer.id, "it keeps its id");
  // Once it has gone, its credential lasts one retention period more, then no longer.
  await registry.removePeer(peer.id, now);
  assert.equal(await registry.sessionOwner(session, now + 4_000), peer.id);
  assert.equal(await registry.sessionOwner(session, now + 6_000), null);
});

Deno.test("a connected peer that left the listings while the broker stalled is made to register again", async () => {
  await using broker = await createInProcessBroker({ leaseMs: 1_000 });
  const registered = await broker.call("POST", "/register", REGISTRATION) as {
    peer_id: string;
    session: string;
  };
  const stream = await broker.fetch("/stream", {
    headers: {
      authorization: `Bearer ${broker.secret}`,
      "x-claude-peers-session": registered.session,
    },
  });
  assert.equal(stream.status, 200);
  const reader = stream.body!.getReader();
  try {
    await within(reader.read(), "the stream's hello", BOUND_MS);
    // The event loop stalls (the machine slept) for longer than a lease, and a listing runs
    // before the lease refresh does: the peer leaves the listings although it is connected.
    const until = Date.now() + 1_100;
    while (Date.now() < until) { /* stalled */ }
    assert.deepEqual(await broker.context.registry.listPeers(Date.now()), []);
    // The next refresh ends its stream, so its MCP server registers again.
    for (;;) {
      const { done } = await within(reader.read(), "the end of the stream", BOUND_MS);
      if (done) break;
    }
    assert.equal(broker.context.connections.isConnected(registered.peer_id), false);
  } finally {
    await reader.cancel().catch(() => {});
  }
});
