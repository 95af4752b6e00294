/**
 * Broadcasts and threads end to end: real broker, real `claude-peers mcp` servers over stdio.
 * A broadcast reaches exactly the other live peers of its scope once each; sessions whose
 * models answer every message automatically stay under the broadcast cap and fall quiet; a
 * reply carries its thread in the channel meta and the fallback envelope; a reply to an ended
 * session's message says that session has ended.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createTestEnv,
  git,
  type McpPeer,
  type ReceivedChannel,
  spawnMcp,
  startBroker,
  type TestEnv,
  waitFor,
} from "./_helpers.ts";
import { MAX_BROADCASTS_PER_WINDOW } from "../broker/protocol.ts";

async function repository(testEnv: TestEnv, name: string): Promise<string> {
  const repo = join(testEnv.dir, name);
  await Deno.mkdir(repo);
  await git(repo, "init", "-q", "-b", "main");
  return repo;
}

function assertMetaShape(meta: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(meta)) {
    assert.match(key, /^[A-Za-z_][A-Za-z0-9_]*$/);
    assert.equal(typeof value, "string", `meta ${key} must be a string`);
  }
}

/** Waits until nothing new arrives at `peers` for `quietMs`; fails after `timeoutMs`. */
async function untilQuiet(peers: McpPeer[], quietMs: number, timeoutMs: number): Promise<void> {
  let seen = -1;
  let since = Date.now();
  await waitFor(
    () => {
      const count = peers.reduce((sum, peer) => sum + peer.channel.length, 0);
      if (count !== seen) {
        seen = count;
        since = Date.now();
      }
      return Date.now() - since >= quietMs;
    },
    timeoutMs,
    "the sessions to fall quiet",
  );
}

Deno.test("a broadcast to @repo reaches exactly the other peers of the repository, once each", async () => {
  await using testEnv = await createTestEnv();
  const repo = await repository(testEnv, "api");
  const elsewhere = await repository(testEnv, "web");
  await using _broker = await startBroker(testEnv);
  await using sender = await spawnMcp(testEnv, { cwd: repo });
  await using inRepo = await spawnMcp(testEnv, { cwd: repo });
  await using another = await spawnMcp(testEnv, { cwd: repo });
  await using outside = await spawnMcp(testEnv, { cwd: elsewhere });
  const ids = await Promise.all([inRepo, another].map((peer) => peer.id()));
  await outside.id();
  const sent = await sender.call("send_message", { to_id: "@repo", message: "stand-up in 5" });
  assert.equal(sent.isError, false, sent.text);
  assert.match(sent.text, /^Broadcast to @repo, 2 peers \(thread \S+\):/);
  for (const id of ids) {
    assert.match(sent.text, new RegExp(`\\(${id}\\): message \\S+, reached live`));
  }
  await waitFor(() => inRepo.channel.length > 0 && another.channel.length > 0, 5_000, "copies");
  // Every copy acknowledged: nothing else is on its way.
  await waitFor(
    async () => !(await sender.call("check_messages")).text.includes("not yet delivered"),
    5_000,
    "both copies acknowledged",
  );
  const [a, b] = [inRepo.channel, another.channel];
  assert.equal(a.length, 1);
  assert.equal(b.length, 1);
  assert.equal(outside.channel.length, 0, "another repository hears nothing");
  assert.equal(sender.channel.length, 0, "the sender hears nothing");
  for (const copy of [a[0]!, b[0]!]) {
    assertMetaShape(copy.meta);
    assert.equal(copy.content, "stand-up in 5");
    assert.equal(copy.meta.broadcast, "@repo");
    assert.equal(copy.meta.from_name, "api");
  }
  assert.notEqual(a[0]!.meta.message_id, b[0]!.meta.message_id, "each copy is its own message");
  assert.equal(a[0]!.meta.thread_id, b[0]!.meta.thread_id, "one thread");
});

Deno.test("sessions whose models answer every message stay under the broadcast cap and fall quiet", async () => {
  await using testEnv = await createTestEnv();
  const repo = await repository(testEnv, "team");
  await using _broker = await startBroker(testEnv);
  // A naive model answers every message by broadcasting to the repository again; two polite
  // ones answer every message they get with reply_to (which goes to its sender only).
  await using naive = await spawnMcp(testEnv, { cwd: repo });
  await using politeA = await spawnMcp(testEnv, { cwd: repo });
  await using politeB = await spawnMcp(testEnv, { cwd: repo });
  await Promise.all([naive, politeA, politeB].map((peer) => peer.id()));
  const broadcasts: string[] = [];
  const refusals: string[] = [];
  const pending: Promise<unknown>[] = [];
  const answer = (peer: McpPeer, args: (n: ReceivedChannel) => Record<string, unknown>) => {
    peer.onChannel = (notification) => {
      pending.push(
        peer.call("send_message", { message: "ack", ...args(notification) }).then((result) => {
          if (result.isError) refusals.push(result.text);
          else if (result.text.startsWith("Broadcast")) broadcasts.push(result.text);
        }),
      );
    };
  };
  answer(naive, (n) => ({ to_id: "@repo", reply_to: n.meta.message_id }));
  answer(politeA, (n) => ({ reply_to: n.meta.message_id }));
  answer(politeB, (n) => ({ reply_to: n.meta.message_id }));
  const first = await naive.call("send_message", { to_id: "@repo", message: "anyone?" });
  assert.equal(first.isError, false, first.text);
  broadcasts.push(first.text);
  await untilQuiet([naive, politeA, politeB], 1_500, 30_000);
  await Promise.all(pending);
  assert.ok(
    broadcasts.length <= MAX_BROADCASTS_PER_WINDOW,
    `${broadcasts.length} broadcasts were sent`,
  );
  assert.ok(refusals.length > 0, "the naive model was stopped");
  for (const refusal of refusals) {
    assert.match(refusal, /Too many broadcasts: at most 3 per 60 s from one sender; wait \d+ s/);
    assert.match(refusal, /Do not retry the broadcast now/);
  }
  // The polite replies went to the broadcaster only: the polite ones heard only broadcasts.
  for (const polite of [politeA, politeB]) {
    assert.equal(polite.channel.length, broadcasts.length);
    assert.ok(polite.channel.every((n) => n.meta.broadcast === "@repo"));
  }
  assert.equal(naive.channel.length, 2 * broadcasts.length, "one reply per copy, to its sender");
  assert.ok(naive.channel.every((n) => n.meta.broadcast === undefined && n.meta.reply_to));
  // Every message of the run is in the first broadcast's thread.
  const threads = new Set(
    [naive, politeA, politeB].flatMap((peer) => peer.channel.map((n) => n.meta.thread_id)),
  );
  assert.equal(threads.size, 1);
});

Deno.test("a reply carries thread_id and reply_to, in the channel meta and the fallback envelope", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  await using alice = await spawnMcp(testEnv);
  await using bob = await spawnMcp(testEnv, { env: { CLAUDE_PEERS_CHANNEL: "off" } });
  const bobId = await bob.id();
  const asked = await alice.call("send_message", { to_id: bobId, message: "which port?" });
  assert.equal(asked.isError, false, asked.text);
  const questionId = asked.text.match(/^Sent message (\S+) to/)![1]!;
  // Without channels bob reads it in the envelope, with its thread.
  const checked = (await bob.call("check_messages")).text;
  assert.match(
    checked,
    new RegExp(
      `<peer_message id="${questionId}" from="[a-z0-9]{8}" from_name="[^"]+" from_kind="peer" from_cwd="[^"]+" sent_at="[^"]+" thread_id="${questionId}">`,
    ),
  );
  assert.match(checked, /answer with send_message reply_to its id/);
  const replied = await bob.call("send_message", { reply_to: questionId, message: "7899" });
  assert.equal(replied.isError, false, replied.text);
  assert.match(
    replied.text,
    new RegExp(`in thread ${questionId} to \\S+ \\(${await alice.id()}\\)`),
  );
  await waitFor(() => alice.channel.length === 1, 5_000, "the reply");
  const reply = alice.channel[0]!;
  assertMetaShape(reply.meta);
  assert.equal(reply.content, "7899");
  assert.equal(reply.meta.reply_to, questionId);
  assert.equal(reply.meta.thread_id, questionId);
  assert.equal(reply.meta.from_id, bobId);
  // Answering the answer stays in the thread; bob's envelope says what it answers.
  const again = await alice.call("send_message", {
    reply_to: reply.meta.message_id,
    message: "thanks",
  });
  assert.equal(again.isError, false, again.text);
  const thanks = (await bob.call("check_messages")).text;
  assert.match(thanks, new RegExp(`thread_id="${questionId}" reply_to="${reply.meta.message_id}"`));
  const unknown = await bob.call("send_message", { reply_to: "0nosuchmessage", message: "?" });
  assert.equal(unknown.isError, true);
  assert.match(unknown.text, /No message "0nosuchmessage" to reply to/);
});

Deno.test("a reply to a message whose sender's session has ended says that session has ended", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  await using bob = await spawnMcp(testEnv);
  const bobId = await bob.id();
  const alice = await spawnMcp(testEnv);
  try {
    await alice.call("set_summary", { name: "alice" });
    const aliceId = await alice.id();
    await alice.call("send_message", { to_id: bobId, message: "I am leaving" });
    await waitFor(() => bob.channel.length === 1, 5_000, "alice's message");
    await alice.close();
    await waitFor(
      async () => !(await bob.call("list_peers", { scope: "machine" })).text.includes(aliceId),
      5_000,
      "alice to leave",
    );
    const reply = await bob.call("send_message", {
      reply_to: bob.channel[0]!.meta.message_id,
      message: "bye",
    });
    assert.equal(reply.isError, true);
    assert.match(
      reply.text,
      new RegExp(
        `the session of its sender "alice" \\(${aliceId}\\) has ended \\(at [^)]+\\)\\. That session has ended`,
      ),
    );
  } finally {
    await alice.close();
  }
});
