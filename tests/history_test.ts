/**
 * The history and the senders' delivery statuses, in-process: the mailbox on an in-memory
 * Deno KV with a clock the test moves, and the log routes through the in-process broker.
 *
 * @module
 */
import assert from "node:assert/strict";
import { PeerRegistry } from "../broker/peers.ts";
import { Mailbox, type MailboxOptions, type Sender } from "../broker/mailbox.ts";
import { HISTORY, outboxPrefix } from "../broker/kv_keys.ts";
import { CLAUDE_SESSION_HEADER, SESSION_HEADER } from "../broker/protocol.ts";
import { createInProcessBroker } from "./_fixtures/in_process.ts";

const FIELDS = {
  pid: 1,
  cwd: "/w",
  git_root: null,
  branch: null,
  repo: null,
  tty: null,
  summary: "",
  channel: false,
};
const RETENTION_MS = 60_000;

interface Store {
  kv: Deno.Kv;
  mailbox: Mailbox;
  /** A live recipient's id. */
  bob: string;
}

async function withStore(
  options: Partial<MailboxOptions>,
  fn: (store: Store) => Promise<void>,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    const registry = new PeerRegistry(kv, {
      leaseMs: 10 * 3_600_000,
      retentionMs: 10 * 3_600_000,
      maxPeers: 10,
    });
    const mailbox = new Mailbox(kv, {
      retentionMs: RETENTION_MS,
      maxQueued: 1000,
      isLive: async (id, now) => await registry.getPeer(id, now) !== null,
      endedAt: (id, now) => registry.endedAt(id, now),
      ...options,
    });
    await mailbox.restoreOrder();
    const { peer } = await registry.register(FIELDS, Date.now());
    await fn({ kv, mailbox, bob: peer.id });
  } finally {
    kv.close();
  }
}

const alice: Sender = { id: "alice001", name: "alice", kind: "peer", summary: "", cwd: "/w" };

async function historyKeys(kv: Deno.Kv): Promise<number> {
  let count = 0;
  for await (const _ of kv.list({ prefix: HISTORY })) count++;
  return count;
}

Deno.test("the history keeps the newest messages up to its count, trimming in steps", () =>
  withStore({ historyMs: 3_600_000, historyMax: 5 }, async ({ kv, mailbox, bob }) => {
    const now = Date.now();
    for (let i = 0; i < 12; i++) {
      const message = await mailbox.enqueue(alice, bob, `m${i}`, now);
      assert.equal(await mailbox.ack(bob, [message.id], { now, via: "channel" }), 1);
    }
    assert.equal(await historyKeys(kv), 5);
    assert.equal(mailbox.history.count, 5);
    const { entries, more } = await mailbox.log({ limit: 100 }, now);
    assert.deepEqual(entries.map((entry) => entry.text), ["m7", "m8", "m9", "m10", "m11"]);
    assert.equal(more, false);
  }));

Deno.test("a larger history trims a slack of 1 % at a time, never above its count", () =>
  withStore({ historyMs: 3_600_000, historyMax: 300 }, async ({ kv, mailbox, bob }) => {
    const now = Date.now();
    let highest = 0;
    for (let i = 0; i < 320; i++) {
      const message = await mailbox.enqueue(alice, bob, `m${i}`, now);
      await mailbox.ack(bob, [message.id], { now });
      highest = Math.max(highest, mailbox.history.count);
    }
    assert.ok(highest <= 300, `the count reached ${highest}`);
    // 300 plus one over the limit trims 3 (1 %): the history then holds between 298 and 300.
    assert.ok(mailbox.history.count >= 298, String(mailbox.history.count));
    assert.equal(await historyKeys(kv), mailbox.history.count);
  }));

Deno.test("a message leaves the history when its days are over", () =>
  withStore({ historyMs: 1_000, historyMax: 100 }, async ({ kv, mailbox, bob }) => {
    const now = Date.now();
    const old = await mailbox.enqueue(alice, bob, "old", now);
    await mailbox.ack(bob, [old.id], { now });
    assert.equal((await mailbox.log({ limit: 10 }, now + 500)).entries.length, 1);
    assert.equal((await mailbox.log({ limit: 10 }, now + 1_500)).entries.length, 0);
    // Pruned from the database too, not only hidden.
    assert.equal(await historyKeys(kv), 0);
    assert.equal(mailbox.history.count, 0);
  }));

Deno.test("with the history off, a delivered message leaves nothing behind", () =>
  withStore({ historyMs: 3_600_000, historyMax: 0 }, async ({ kv, mailbox, bob }) => {
    const now = Date.now();
    const message = await mailbox.enqueue(alice, bob, "secret", now);
    await mailbox.ack(bob, [message.id], { now });
    assert.equal(await historyKeys(kv), 0);
    assert.deepEqual((await mailbox.log({ limit: 10 }, now)).entries, []);
    // The sender still learns that it was delivered.
    const [status] = await mailbox.outbox(alice.id, now);
    assert.equal(status?.state, "delivered");
  }));

Deno.test("a sender's outbox says queued, then delivered with time and mode, or expired", () =>
  withStore({ historyMs: 3_600_000, historyMax: 100 }, async ({ mailbox, bob }) => {
    const now = Date.now();
    const shown = await mailbox.enqueue(alice, bob, "shown", now);
    const lost = await mailbox.enqueue(alice, bob, "lost", now);
    assert.deepEqual((await mailbox.outbox(alice.id, now)).map((sent) => sent.state), [
      "queued",
      "queued",
    ]);
    // Claimed by a waiting hook and acknowledged without saying how: the claim tells.
    const { messages } = await mailbox.claim(bob, now, 30_000, "hook_wake");
    assert.equal(messages.length, 2);
    await mailbox.ack(bob, [shown.id], { now: now + 10 });
    const later = now + RETENTION_MS + 1;
    const statuses = await mailbox.outbox(alice.id, later);
    assert.deepEqual(statuses.map((sent) => [sent.message_id, sent.state, sent.via]), [
      [lost.id, "expired", null],
      [shown.id, "delivered", "hook"],
    ]);
    assert.equal(statuses[1]!.state_at, now + 10);
    assert.equal(statuses[0]!.state_at, now + RETENTION_MS);
    // An expired message found in the inbox moves to the history as expired.
    assert.deepEqual(await mailbox.inbox(bob, later), []);
    const log = await mailbox.log({ limit: 10 }, later);
    assert.deepEqual(log.entries.map((entry) => [entry.text, entry.state, entry.via]), [
      ["shown", "delivered", "hook"],
      ["lost", "expired", null],
    ]);
    assert.equal((await mailbox.outbox(alice.id, later, 1)).length, 1, "the limit holds");
  }));

Deno.test("only the user's CLI reads the log and the events: a peer's credentials are refused", async () => {
  await using broker = await createInProcessBroker();
  const { session } = await broker.call("POST", "/register", FIELDS) as { session: string };
  const asPeer = (path: string, method = "POST") =>
    broker.fetch(path, {
      method,
      headers: {
        authorization: `Bearer ${broker.secret}`,
        "content-type": "application/json",
        [SESSION_HEADER]: session,
      },
      ...(method === "POST" ? { body: "{}" } : {}),
    });
  for (const [path, method] of [["/log", "POST"], ["/log/clear", "POST"], ["/events", "GET"]]) {
    const response = await asPeer(path!, method);
    assert.equal(response.status, 403, path);
    assert.equal((await response.json()).code, "forbidden");
  }
  const asHook = await broker.fetch("/log", {
    method: "POST",
    headers: {
      authorization: `Bearer ${broker.secret}`,
      "content-type": "application/json",
      [CLAUDE_SESSION_HEADER]: "some-claude-session",
    },
    body: "{}",
  });
  assert.equal(asHook.status, 403);
  await asHook.body?.cancel();
  const noSecret = await broker.fetch("/events");
  assert.equal(noSecret.status, 401);
  await noSecret.body?.cancel();
  assert.deepEqual(await broker.call("POST", "/log", {}), { entries: [], more: false });
  assert.deepEqual(await broker.call("POST", "/log/clear", {}), { removed: 0 });
  const bad = await broker.fetch("/log", {
    method: "POST",
    headers: { authorization: `Bearer ${broker.secret}`, "content-type": "application/json" },
    body: JSON.stringify({ since: "yesterday" }),
  });
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
});

Deno.test("a sender's delivered statuses are trimmed to the newest hundred, in batches", () =>
  withStore({}, async ({ kv, mailbox, bob }) => {
    const now = Date.now();
    const count = async () => {
      let records = 0;
      for await (const _ of kv.list({ prefix: outboxPrefix(alice.id) })) records++;
      return records;
    };
    let most = 0;
    for (let i = 0; i < 250; i++) {
      const message = await mailbox.enqueue(alice, bob, `m${i}`, now);
      await mailbox.ack(bob, [message.id], { now });
      most = Math.max(most, await count());
    }
    assert.ok(most <= 200, `the outbox held ${most} statuses`);
    assert.ok(await count() >= 100);
    const recent = await mailbox.outbox(alice.id, now);
    assert.equal(recent.length, 10);
    assert.ok(recent.every((sent) => sent.state === "delivered"));
  }));

Deno.test("a broker started with smaller bounds, or none, applies them to the history it finds", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const registry = new PeerRegistry(kv, {
      leaseMs: 10 * 3_600_000,
      retentionMs: 10 * 3_600_000,
      maxPeers: 10,
    });
    const open = async (historyMax: number) => {
      const mailbox = new Mailbox(kv, {
        retentionMs: RETENTION_MS,
        maxQueued: 1000,
        historyMs: 3_600_000,
        historyMax,
        isLive: async (id, now) => await registry.getPeer(id, now) !== null,
        endedAt: (id, now) => registry.endedAt(id, now),
      });
      await mailbox.restoreOrder();
      return mailbox;
    };
    const { peer } = await registry.register(FIELDS, Date.now());
    const first = await open(100);
    for (let i = 0; i < 6; i++) {
      const message = await first.enqueue(alice, peer.id, `m${i}`, Date.now());
      await first.ack(peer.id, [message.id]);
    }
    assert.equal(await historyKeys(kv), 6);
    const smaller = await open(4);
    assert.equal(await historyKeys(kv), 4);
    assert.deepEqual(
      (await smaller.log({ limit: 10 }, Date.now())).entries.map((entry) => entry.text),
      ["m2", "m3", "m4", "m5"],
    );
    await open(0);
    assert.equal(await historyKeys(kv), 0, "turned off: nothing kept");
  } finally {
    kv.close();
  }
});
