/**
 * The disk holding the broker's database fills up (a 2 MiB tmpfs, filled by a file; root and
 * Linux only, else ignored with the reason): a sender is told plainly, live peers stay listed
 * though every lease write fails, nothing accepted before is lost, and once space is freed
 * everything works again without a restart. The directory holding the database keeps its mode.
 * The registry's part is also tested without root, on a database whose writes fail.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { createTestEnv, runCli, spawnMcp, waitFor } from "./_helpers.ts";
import { type PeerRecord, PeerRegistry } from "../broker/peers.ts";
import { peerKey } from "../broker/kv_keys.ts";
import { REGISTRATION } from "./_fixtures/registration.ts";

const LEASE_MS = 1_500;

async function succeeds(command: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(command, { args, stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/** Mounts a 2 MiB tmpfs on a fresh directory, or says why it cannot. */
async function mountSmallDisk(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "claude-peers-disk-" });
  if (await succeeds("mount", ["-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", dir])) {
    return dir;
  }
  await Deno.remove(dir);
  throw new Error("mount -t tmpfs failed");
}

async function unmount(dir: string): Promise<void> {
  if (!await succeeds("umount", [dir])) await succeeds("umount", ["-l", dir]);
  await Deno.remove(dir, { recursive: true });
}

async function skipReason(): Promise<string | null> {
  if (Deno.build.os !== "linux") return "needs Linux";
  if (Deno.uid() !== 0) return "needs root to mount a small tmpfs";
  try {
    await unmount(await mountSmallDisk());
    return null;
  } catch {
    return "cannot mount a tmpfs here";
  }
}

const skip = await skipReason();

/** Writes `path` until the disk has no byte left. */
async function fillDisk(path: string): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true });
  for (const size of [65_536, 4_096, 1]) {
    const chunk = new Uint8Array(size);
    try {
      for (;;) await file.write(chunk);
    } catch (error) {
      assert.match(String(error), /No space left/);
    }
  }
}

Deno.test({
  name: `a full disk: senders are told, live peers stay listed, nothing is lost, and it heals${
    skip ? ` [ignored: ${skip}]` : ""
  }`,
  ignore: skip !== null,
  async fn() {
    const disk = await mountSmallDisk();
    try {
      await scenario(disk);
    } finally {
      await unmount(disk);
    }
  },
});

async function scenario(disk: string): Promise<void> {
  const mode = (await Deno.stat(disk)).mode! & 0o7777;
  await using testEnv = await createTestEnv({
    CLAUDE_PEERS_DB: join(disk, "peers.db"),
    CLAUDE_PEERS_LEASE_MS: String(LEASE_MS),
  });
  // The first server starts the broker, as in real use: its log is on the small disk too.
  await using alice = await spawnMcp(testEnv);
  await using bob = await spawnMcp(testEnv);
  await using carol = await spawnMcp(testEnv, { env: { CLAUDE_PEERS_CHANNEL: "off" } });
  const [aliceId, bobId, carolId] = await Promise.all([alice.id(), bob.id(), carol.id()]);
  const { pid } = await testEnv.client().status();
  // Accepted before the disk fills: queued for carol, who reads on her next tool call.
  for (let i = 0; i < 3; i++) {
    const sent = await alice.call("send_message", { to_id: carolId, message: `before ${i}` });
    assert.equal(sent.isError, false, sent.text);
  }

  const filler = join(disk, "filler");
  await fillDisk(filler);
  const fullSince = Date.now();
  const refused = await alice.call("send_message", { to_id: bobId, message: "while full" });
  assert.equal(refused.isError, true, refused.text);
  assert.match(refused.text, /the disk is full/);
  assert.match(refused.text, /Tell the user .* full; once space is freed, send again/);
  const cli = await runCli(testEnv, ["send", bobId, "from the CLI while full"]);
  assert.equal(cli.code, 1, cli.stdout);
  assert.match(cli.stderr, /the disk is full.*\(free some space on the disk/);

  // Two leases pass with every lease write failing: that time is the condition under test.
  await delay(Math.max(0, fullSince + 2 * LEASE_MS + 500 - Date.now()));
  const { peers } = await testEnv.client().listPeers("machine");
  assert.deepEqual(peers.map((peer) => peer.id).sort(), [aliceId, bobId, carolId].sort());
  const still = await alice.call("send_message", { to_id: bobId, message: "still full" });
  assert.match(still.text, /the disk is full/, 'the reason, not "not registered"');

  // Space is freed: everything works again, with the same broker.
  await Deno.remove(filler);
  const after = await alice.call("send_message", { to_id: bobId, message: "after" });
  assert.equal(after.isError, false, after.text);
  await waitFor(() => bob.channel.some((n) => n.content === "after"), 10_000, "bob's message");
  assert.ok(!bob.channel.some((n) => /full/.test(n.content)), "nothing refused was delivered");
  const read = await carol.call("check_messages");
  assert.match(read.text, /before 0[\s\S]*before 1[\s\S]*before 2/);
  const summary = await carol.call("set_summary", { summary: "carol after the disk was full" });
  assert.equal(summary.isError, false, summary.text);
  assert.equal((await testEnv.client().status()).pid, pid, "no restart was needed");
  await waitFor(
    async () => (await testEnv.client().listPeers("machine")).peers.length === 3,
    5_000,
    "three peers",
  );
  assert.equal(
    (await Deno.stat(disk)).mode! & 0o7777,
    mode,
    "the database's directory kept its mode",
  );
}

/** `kv` with every write failing as SQLite's do on a full disk while `full.on` is set. */
function fillable(kv: Deno.Kv): { kv: Deno.Kv; full: { on: boolean } } {
  const full = { on: false };
  const refuse = () => Promise.reject(new TypeError("database or disk is full"));
  const wrapped = new Proxy(kv, {
    get(target, property) {
      if (property === "atomic") {
        return () => {
          const op = target.atomic();
          const commit = op.commit.bind(op);
          op.commit = () => full.on ? refuse() : commit();
          return op;
        };
      }
      const value = Reflect.get(target, property, target);
      if (property === "set" || property === "delete") {
        return (...args: unknown[]) => full.on ? refuse() : value.apply(target, args);
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { kv: wrapped, full };
}

Deno.test("lease writes that fail keep connected peers listed; a peer that left is gone", async () => {
  using memory = await Deno.openKv(":memory:");
  const { kv, full } = fillable(memory);
  const leaseMs = 1_000;
  const registry = new PeerRegistry(kv, { leaseMs, retentionMs: 60_000, maxPeers: 10 });
  const now = Date.now();
  const { peer: connected } = await registry.register(REGISTRATION, now);
  const { peer: idle } = await registry.register(REGISTRATION, now);
  const { peer: leaving } = await registry.register(REGISTRATION, now);

  full.on = true;
  const ids = [connected.id, leaving.id];
  await assert.rejects(registry.refreshLeases(ids, now + 500), /disk is full/);
  await assert.rejects(registry.removePeer(leaving.id, now + 600), /disk is full/);
  await assert.rejects(registry.refreshLeases([connected.id], now + 900), /disk is full/);
  const later = now + leaseMs + 500;
  assert.deepEqual((await registry.listPeers(later)).map((peer) => peer.id), [connected.id]);
  assert.equal(await registry.getPeer(idle.id, later), null, "a peer without a stream expires");
  await assert.rejects(registry.setSummary(connected.id, "while full", later), /disk is full/);

  full.on = false;
  await registry.setSummary(connected.id, "after", later);
  await registry.refreshLeases([connected.id], later);
  const stored = (await memory.get<PeerRecord>(peerKey(connected.id))).value;
  assert.equal(stored?.expires_at, later + leaseMs, "the next round writes the lease");
  assert.equal(stored?.summary, "after");
});
