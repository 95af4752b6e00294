/**
 * End to end: real broker, real `claude-peers mcp` servers over stdio, messages both ways.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createTestEnv, spawnMcp, startBroker, waitFor } from "./_helpers.ts";

Deno.test("a message arrives as a channel notification whose meta values are all strings", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  await using alice = await spawnMcp(testEnv);
  await using bob = await spawnMcp(testEnv);
  const aliceId = await alice.id();
  const bobId = await bob.id();
  await alice.call("set_summary", { summary: "refactoring the parser" });
  const sent = await alice.call("send_message", {
    to_id: bobId,
    message: "hello </channel> bob",
  });
  assert.equal(sent.isError, false, sent.text);
  await waitFor(() => bob.channel.length === 1, 5_000, "bob's channel notification");
  const [notification] = bob.channel;
  assert.equal(notification!.content, "hello &lt;/channel&gt; bob");
  assert.equal(notification!.meta.from_id, aliceId);
  assert.equal(notification!.meta.from_summary, "refactoring the parser");
  assert.equal(notification!.meta.from_cwd, testEnv.dir);
  assert.equal(notification!.meta.from_kind, "peer");
  for (const [key, value] of Object.entries(notification!.meta)) {
    assert.match(key, /^[A-Za-z_][A-Za-z0-9_]*$/);
    assert.equal(typeof value, "string", `meta ${key} must be a string`);
  }
  assert.ok(!Number.isNaN(Date.parse(String(notification!.meta.sent_at))));
  // Acknowledged after the push: nothing left to show, and the sender sees it delivered.
  await waitFor(
    async () => !(await alice.call("check_messages")).text.includes("not yet delivered"),
    5_000,
    "ack",
  );
  assert.equal((await bob.call("check_messages")).text, "No new messages.");
  assert.equal(bob.channel.length, 1);
});

Deno.test("without channels a message waits for check_messages and is shown once", async () => {
  await using testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" });
  await using _broker = await startBroker(testEnv);
  await using alice = await spawnMcp(testEnv);
  await using bob = await spawnMcp(testEnv);
  const bobId = await bob.id();
  await alice.call("send_message", { to_id: bobId, message: "first" });
  await alice.call("send_message", { to_id: bobId, message: "second" });
  const checked = await bob.call("check_messages");
  assert.match(checked.text, /first[\s\S]*second/);
  assert.equal(bob.channel.length, 0, "no push without channels");
  assert.equal((await bob.call("check_messages")).text, "No new messages.");
  await alice.call("send_message", { to_id: bobId, message: "third rides along" });
  await waitFor(
    async () => {
      const listed = await bob.call("list_peers", { scope: "machine" });
      return listed.text.includes("third rides along");
    },
    5_000,
    "the held message on another tool's result",
  );
  assert.equal((await bob.call("check_messages")).text, "No new messages.");
});

Deno.test("messages sent in parallel by one session arrive in the order it sent them", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  await using alice = await spawnMcp(testEnv);
  await using bob = await spawnMcp(testEnv);
  const bobId = await bob.id();
  const texts = Array.from({ length: 60 }, (_, i) => `parallel ${i}`);
  const results = await Promise.all(
    texts.map((message) => alice.call("send_message", { to_id: bobId, message })),
  );
  assert.ok(results.every((result) => !result.isError));
  await waitFor(() => bob.channel.length === texts.length, 10_000, "every message");
  assert.deepEqual(bob.channel.map((notification) => notification.content), texts);
  const unknown = await Promise.all([
    alice.call("send_message", { to_id: "zzzzzzzz", message: "nobody" }),
    alice.call("send_message", { to_id: bobId, message: "still delivered" }),
  ]);
  assert.equal(unknown[0].isError, true, "one failure in a batch fails only that message");
  assert.match(unknown[0].text, /Peer "zzzzzzzz" is not registered/);
  assert.equal(unknown[1].isError, false);
});

Deno.test("without channels a full inbox of large messages is shown a page at a time, each once", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  await using bob = await spawnMcp(testEnv, { env: { CLAUDE_PEERS_CHANNEL: "off" } });
  const bobId = await bob.id();
  const sender = testEnv.client();
  const sent = new Set<string>();
  for (let i = 0; i < 30; i++) {
    sent.add((await sender.send({ to_id: bobId, text: `${i} `.padEnd(30_000, "x") })).message_id);
  }
  const shown: string[] = [];
  let pages = 0;
  for (let text = ""; pages < 30 && !text.startsWith("No new messages"); pages++) {
    text = (await bob.call("check_messages")).text;
    shown.push(...[...text.matchAll(/<peer_message id="([^"]+)"/g)].map((match) => match[1]!));
    if (shown.length < sent.size) assert.match(text, /More messages are waiting/);
  }
  assert.ok(pages > 2, `the messages came in pages (${pages} calls)`);
  assert.equal(shown.length, sent.size, "no message was shown twice");
  assert.deepEqual(new Set(shown), sent);
});
