/**
 * Watching the sessions, end to end with real processes (broker, `claude-peers mcp` servers
 * over stdio, the CLI): what a sender sees of its messages (queued, delivered with time and
 * mode, expired), the bounded history behind `claude-peers log`, and `claude-peers tail`.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createTestEnv,
  ON_WINDOWS,
  posixTestName,
  runCli,
  spawnMcp,
  startBroker,
  startTail,
  waitFor,
} from "./_helpers.ts";
import type { LogEntry } from "../broker/protocol.ts";

function parseLog(stdout: string): LogEntry[] {
  return stdout.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
}

/** The line of check_messages that tells about `messageId`. */
function statusLine(text: string, messageId: string): string | undefined {
  return text.split("\n").find((line) => line.startsWith(`- ${messageId} `));
}

function messageIdOf(sendResult: string): string {
  const id = sendResult.match(/^Sent message (\S+) to /)?.[1];
  if (!id) throw new Error(`no message id in: ${sendResult}`);
  return id;
}

Deno.test("a sender sees its message delivered, with the time and how, once the recipient was shown it", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  await using alice = await spawnMcp(testEnv);
  await using bob = await spawnMcp(testEnv);
  await using carol = await spawnMcp(testEnv, { env: { CLAUDE_PEERS_CHANNEL: "off" } });
  const [bobId, carolId] = [await bob.id(), await carol.id()];

  const before = Date.now();
  const toBob = messageIdOf(
    (await alice.call("send_message", { to_id: bobId, message: "hi" })).text,
  );
  await waitFor(() => bob.channel.length === 1, 15_000, "bob's channel notification");
  await waitFor(
    async () =>
      statusLine((await alice.call("check_messages")).text, toBob)?.includes("delivered") ?? false,
    15_000,
    "alice to see her message to bob delivered",
  );
  const bobLine = statusLine((await alice.call("check_messages")).text, toBob)!;
  const match = bobLine.match(/: delivered (\S+) via channel$/);
  assert.ok(match, bobLine);
  const deliveredAt = Date.parse(match[1]!);
  assert.ok(deliveredAt >= before - 1_000 && deliveredAt <= Date.now(), bobLine);

  // Carol has no channel: the message waits until her model calls a claude-peers tool.
  const toCarol = messageIdOf(
    (await alice.call("send_message", { to_id: carolId, message: "hi carol" })).text,
  );
  const waiting = await alice.call("check_messages");
  assert.match(waiting.text, /Your messages not yet delivered:/);
  assert.match(
    statusLine(waiting.text, toCarol)!,
    new RegExp(`to \\S+ \\(${carolId}\\), sent \\S+ \\(`),
  );
  assert.match((await carol.call("check_messages")).text, /hi carol/);
  await waitFor(
    async () =>
      /delivered \S+ via tool_result$/.test(
        statusLine((await alice.call("check_messages")).text, toCarol) ?? "",
      ),
    15_000,
    "alice to see her message to carol delivered on a tool result",
  );
  // The person sees the same in the log.
  const logged = parseLog((await runCli(testEnv, ["log", "--json"])).stdout);
  const byId = new Map(logged.map((entry) => [entry.id, entry]));
  assert.equal(byId.get(toBob)?.state, "delivered");
  assert.equal(byId.get(toBob)?.via, "channel");
  assert.equal(byId.get(toCarol)?.via, "tool_result");
  assert.equal(byId.get(toCarol)?.text, "hi carol");
});

Deno.test("a message stays queued while its recipient is not connected, then expires after the retention", async () => {
  await using testEnv = await createTestEnv({ CLAUDE_PEERS_RETENTION_MS: "10000" });
  await using _broker = await startBroker(testEnv);
  await using bob = await spawnMcp(testEnv, { env: { CLAUDE_PEERS_CHANNEL: "off" } });
  const bobId = await bob.id();
  const sent = await runCli(testEnv, ["send", "--from", "ops", bobId, "deploy at noon"]);
  assert.equal(sent.code, 0, sent.stderr);
  await bob.close();
  await waitFor(
    async () => (await testEnv.client().listPeers("machine")).peers.length === 0,
    15_000,
    "bob gone",
  );
  const queued = parseLog((await runCli(testEnv, ["log", "--json"])).stdout);
  assert.deepEqual(queued.map((entry) => [entry.from_id, entry.to_id, entry.state]), [
    ["ops", bobId, "queued"],
  ]);
  await waitFor(
    async () => {
      const [entry] = parseLog((await runCli(testEnv, ["log", "--json"])).stdout);
      return entry?.state === "expired";
    },
    30_000,
    "the message to expire",
  );
  const human = await runCli(testEnv, ["log"]);
  assert.match(human.stdout, new RegExp(`ops \\(cli\\) → ${bobId}  expired\\n    deploy at noon`));
});

Deno.test("the history keeps at most its configured count, and log --clear empties it", async () => {
  await using testEnv = await createTestEnv({ CLAUDE_PEERS_HISTORY_MAX: "3" });
  await using _broker = await startBroker(testEnv);
  await using alice = await spawnMcp(testEnv);
  await using bob = await spawnMcp(testEnv);
  const bobId = await bob.id();
  for (let i = 0; i < 6; i++) {
    await alice.call("send_message", { to_id: bobId, message: `note ${i}` });
  }
  await waitFor(
    async () => {
      const entries = parseLog((await runCli(testEnv, ["log", "--json"])).stdout);
      return entries.every((entry) => entry.state === "delivered") &&
        entries.at(-1)?.text === "note 5";
    },
    20_000,
    "every note delivered",
  );
  const kept = parseLog((await runCli(testEnv, ["log", "--json"])).stdout);
  assert.deepEqual(kept.map((entry) => entry.text), ["note 3", "note 4", "note 5"]);

  const cleared = await runCli(testEnv, ["log", "--clear"]);
  assert.equal(cleared.code, 0, cleared.stderr);
  assert.equal(cleared.stdout, "Deleted 3 messages from the history.\n");
  assert.equal((await runCli(testEnv, ["log", "--json"])).stdout, "");
  assert.equal((await runCli(testEnv, ["log"])).stdout, "No messages.\n");
  assert.doesNotMatch((await alice.call("check_messages")).text, /delivered/);
  const again = await runCli(testEnv, ["log", "--clear"]);
  assert.equal(again.stdout, "Deleted 0 messages from the history.\n");
  const usage = await runCli(testEnv, ["log", "--clear", "--json"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--clear takes no other option/);
});

Deno.test("log --json filters by peer, thread and age", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  await using alice = await spawnMcp(testEnv);
  await using bob = await spawnMcp(testEnv);
  await using carol = await spawnMcp(testEnv);
  const [aliceId, bobId, carolId] = [await alice.id(), await bob.id(), await carol.id()];
  const first = messageIdOf(
    (await alice.call("send_message", { to_id: bobId, message: "a1" })).text,
  );
  await carol.call("send_message", { to_id: bobId, message: "c1" });
  assert.equal((await runCli(testEnv, ["send", "--from", "dave", carolId, "d1"])).code, 0);
  await waitFor(
    async () => {
      const entries = parseLog((await runCli(testEnv, ["log", "--json"])).stdout);
      return entries.length === 3 && entries.every((entry) => entry.state === "delivered");
    },
    20_000,
    "three delivered messages",
  );
  const texts = async (...args: string[]) =>
    parseLog((await runCli(testEnv, ["log", "--json", ...args])).stdout).map((entry) => entry.text);
  assert.deepEqual(await texts(), ["a1", "c1", "d1"]);
  assert.deepEqual(await texts("--peer", aliceId), ["a1"]);
  assert.deepEqual(await texts("--peer", carolId), ["c1", "d1"]);
  assert.deepEqual(await texts("--peer", bobId), ["a1", "c1"]);
  assert.deepEqual(await texts("--peer", "dave"), ["d1"]);
  assert.deepEqual(await texts("--thread", first), ["a1"]);
  assert.deepEqual(await texts("--since", "1h"), ["a1", "c1", "d1"]);
  assert.deepEqual(await texts("--limit", "2"), ["c1", "d1"]);
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  assert.deepEqual(await texts("--since", "1s"), []);
  const bad = await runCli(testEnv, ["log", "--since", "yesterday"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--since "yesterday" is not a duration like 30s/);
});

Deno.test({
  name: posixTestName("tail --json shows a join, a message and a leave in order, and ends cleanly"),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv();
    await using broker = await startBroker(testEnv);
    await using tail = await startTail(testEnv, ["--json"]);
    assert.equal(tail.events()[0]?.type, "hello");
    // A peer joins when its push stream opens, a moment after it registered.
    const joined = (id: string) =>
      waitFor(
        () =>
          tail.events().some((event) =>
            event.type === "peer_joined" && (event.peer as { id: string }).id === id
          ),
        15_000,
        `${id} to join`,
      );
    await using alice = await spawnMcp(testEnv);
    const aliceId = await alice.id();
    await joined(aliceId);
    await alice.call("set_summary", { summary: "writing \x1b[31mtests" });
    await using bob = await spawnMcp(testEnv);
    const bobId = await bob.id();
    await joined(bobId);
    await alice.call("send_message", { to_id: bobId, message: "first line\nsecond line" });
    await waitFor(() => bob.channel.length === 1, 15_000, "the message");
    await bob.close();
    const kinds = () => tail.events().map((event) => event.type);
    await waitFor(() => kinds().includes("peer_left"), 15_000, "the leave event");
    const events = tail.events();
    const order = events.map((event) => {
      if (event.type === "peer_joined") return `joined ${(event.peer as { id: string }).id}`;
      if (event.type === "peer_left") return `left ${event.peer_id}`;
      if (event.type === "message_sent") return `sent ${event.from_id}→${event.to_id}`;
      if (event.type === "message_delivered") return `delivered ${event.via}`;
      return String(event.type);
    });
    assert.deepEqual(order, [
      "hello",
      `joined ${aliceId}`,
      "summary_changed",
      `joined ${bobId}`,
      `sent ${aliceId}→${bobId}`,
      "delivered channel",
      `left ${bobId}`,
    ]);
    const sent = events.find((event) => event.type === "message_sent")!;
    assert.equal(sent.first_line, "first line");
    assert.equal(
      events.find((event) => event.type === "summary_changed")!.summary,
      "writing \x1b[31mtests",
    );

    // Ctrl-C ends it with 0.
    tail.process.kill("SIGINT");
    assert.equal((await tail.status).code, 0);

    // A person's view is one terminal-safe line per event; the broker stopping ends it with 1.
    await using human = await startTail(testEnv, []);
    await alice.call("set_summary", { summary: "evil \x1b]0;title\x07 summary" });
    await waitFor(() => human.lines.length === 1, 15_000, "the summary line");
    assert.match(
      human.lines[0]!,
      new RegExp(`~ summary   \\S+ \\(${aliceId}\\): evil \\\\u\\{1b\\}\\]0;title`),
    );
    assert.ok(!human.lines[0]!.includes("\x1b"), "no escape sequence reaches the terminal");
    // No MCP server left to start a broker again once this one stops.
    await alice.close();
    await waitFor(() => human.lines.length === 2, 15_000, "alice's leave line");
    assert.match(human.lines[1]!, new RegExp(`- left      \\S+ \\(${aliceId}\\)$`));
    await broker.kill("SIGTERM");
    const status = await human.status;
    assert.equal(status.code, 1);
    assert.match(human.stderr(), /the broker on \S+ stopped; tail ends/);

    // A broker killed outright ends it the same way.
    await using second = await startBroker(testEnv);
    await using orphan = await startTail(testEnv, ["--json"]);
    await second.kill("SIGKILL");
    assert.equal((await orphan.status).code, 1);
    assert.match(orphan.stderr(), /(stopped|lost the broker on \S+); tail ends/);
  },
});

const HAS_SCRIPT = !ON_WINDOWS &&
  await new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
    .output().then((output) => output.success, () => false);

Deno.test({
  name: `log colours its lines on a terminal, and not with NO_COLOR${
    HAS_SCRIPT ? "" : " [ignored: needs script(1) for a terminal]"
  }`,
  ignore: !HAS_SCRIPT,
  async fn() {
    await using testEnv = await createTestEnv();
    await using _broker = await startBroker(testEnv);
    await using bob = await spawnMcp(testEnv, { env: { CLAUDE_PEERS_CHANNEL: "off" } });
    const sent = await runCli(testEnv, ["send", await bob.id(), "hello \x1b[2J there"]);
    assert.equal(sent.code, 0, sent.stderr);
    const { command, args } = testEnv.command(["log"]);
    const quoted = [command, ...args].map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(" ");
    // script(1) runs the command on a pseudo-terminal, so stdout is a terminal.
    const onTerminal = async (extra: Record<string, string>) => {
      const output = await new Deno.Command("script", {
        args: ["-qec", quoted, "/dev/null"],
        cwd: testEnv.dir,
        env: { ...testEnv.env, ...extra },
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
      }).output();
      return new TextDecoder().decode(output.stdout);
    };
    const coloured = await onTerminal({});
    assert.ok(coloured.includes("\x1b[33mqueued\x1b[0m"), JSON.stringify(coloured));
    assert.ok(coloured.includes("hello \\u{1b}[2J there"), "the text stays terminal-safe");
    const plain = await onTerminal({ NO_COLOR: "1" });
    assert.ok(plain.includes("queued"));
    assert.ok(!plain.includes("\x1b"), JSON.stringify(plain));
  },
});

Deno.test({
  name: posixTestName("tail ends quietly, with 0, once whoever reads it has gone", "uses sh(1)"),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv();
    await using _broker = await startBroker(testEnv);
    const { command, args } = testEnv.command(["tail", "--json"]);
    const quoted = [command, ...args].map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(" ");
    // `head -1` takes the hello and exits; tail learns it at its next line.
    const child = new Deno.Command("sh", {
      args: ["-c", `(${quoted}; echo "tail exited $?" >&2) | head -1`],
      cwd: testEnv.dir,
      env: testEnv.env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const hello = await stdout.read();
      assert.match(hello.value ?? "", /^\{"type":"hello"/);
      await using peer = await spawnMcp(testEnv);
      await peer.id();
      await peer.call("set_summary", { summary: "now tail writes again" });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stderr = await Promise.race([
        new Response(child.stderr).text(),
        new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve("still running after 15 s"), 15_000);
        }),
      ]);
      clearTimeout(timer);
      assert.equal(stderr, "tail exited 0\n");
      await stdout.cancel();
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* it exited */ }
      await child.status;
    }
  },
});
