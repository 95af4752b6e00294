/**
 * The real CLI against a real broker: status, peers, send, kill-broker, help and usage errors.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createTestEnv, runCli, spawnMcp, startBroker, waitFor } from "./_helpers.ts";

Deno.test("status, peers and send work against a running broker", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  await using bob = await spawnMcp(testEnv);
  const bobId = await bob.id();
  const status = await runCli(testEnv, ["status"]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`Broker: +running \\(http://127.0.0.1:${testEnv.port}`));
  assert.match(status.stdout, new RegExp(`Database: +${testEnv.dbPath}`));
  assert.match(status.stdout, /Uptime: +\d+s/);
  assert.match(status.stdout, /Peers: +1/);
  assert.match(status.stdout, new RegExp(bobId));

  const table = await runCli(testEnv, ["peers"]);
  assert.equal(table.code, 0);
  assert.match(table.stdout, /^NAME +ID +BRANCH +DIRECTORY +HEARS YOU +ACTIVE +SUMMARY$/m);
  assert.match(
    table.stdout,
    new RegExp(`^\\S+ +${bobId} +- +\\S+ +live \\(channel\\) +\\d+s ago +-$`, "m"),
  );

  const words = await runCli(testEnv, ["send", bobId, "run", "the", "tests"]);
  assert.equal(words.code, 0, words.stderr);
  assert.match(words.stdout, new RegExp(`Sent message \\S+ to \\S+ \\(${bobId}, `));
  const dash = await runCli(testEnv, ["send", "--from", "ci-bot", bobId, "-"], "from stdin\n");
  assert.equal(dash.code, 0, dash.stderr);
  const bare = await runCli(testEnv, ["send", bobId], "bare stdin");
  assert.equal(bare.code, 0, bare.stderr);
  await waitFor(() => bob.channel.length === 3, 5_000, "three channel notifications");
  assert.deepEqual(bob.channel.map((n) => n.content), [
    "run the tests",
    "from stdin",
    "bare stdin",
  ]);
  assert.equal(bob.channel[0]!.meta.from_id, "cli");
  assert.equal(bob.channel[1]!.meta.from_id, "ci-bot");
  assert.equal(bob.channel[1]!.meta.from_kind, "cli");

  const unknown = await runCli(testEnv, ["send", "zzzzzzzz", "hello"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /Peer "zzzzzzzz" is not registered/);
  assert.match(unknown.stderr, /run "claude-peers peers"/, "advice for a person");
  // A malformed address is a usage error (exit 2), as documented; so is a --from shaped like
  // an id, and a scope the CLI has none of.
  const badId = await runCli(testEnv, ["send", "not an id!", "hello"]);
  assert.equal(badId.code, 2);
  assert.match(badId.stderr, /"not an id!" is not a peer id .*, a name or @machine/);
  const noRepo = await runCli(testEnv, ["send", "@repo", "hello"]);
  assert.equal(noRepo.code, 2);
  assert.match(noRepo.stderr, /the CLI has no repository or directory of its own/);
  const posing = await runCli(testEnv, ["send", "--from", "k3x9ab12", bobId, "hello"]);
  assert.equal(posing.code, 2);
  assert.match(posing.stderr, /looks like a peer id/);
});

Deno.test("status reports a stopped broker and kill-broker frees the port", async () => {
  await using testEnv = await createTestEnv();
  const down = await runCli(testEnv, ["status"]);
  assert.equal(down.code, 1);
  assert.match(down.stdout, /Broker: +not running/);
  const send = await runCli(testEnv, ["kill-broker"]);
  assert.equal(send.code, 0);
  assert.match(send.stdout, /No broker is running/);
  // peers starts a broker when none runs.
  const peers = await runCli(testEnv, ["peers"]);
  assert.equal(peers.code, 0, peers.stderr);
  assert.match(peers.stdout, /No peers registered/);
  const killed = await runCli(testEnv, ["kill-broker"]);
  assert.equal(killed.code, 0, killed.stderr);
  assert.match(killed.stdout, /stopped/);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: testEnv.port });
  listener.close();
});

Deno.test("help, version and usage errors", async () => {
  await using testEnv = await createTestEnv();
  const help = await runCli(testEnv, ["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: claude-peers <command>/);
  const sendHelp = await runCli(testEnv, ["send", "--help"]);
  assert.equal(sendHelp.code, 0);
  assert.match(sendHelp.stdout, /Usage: claude-peers send/);
  const version = await runCli(testEnv, ["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^claude-peers \d+\.\d+\.\d+\n$/);
  for (const args of [["frobnicate"], ["peers", "--bogus"], ["send"], []]) {
    const result = await runCli(testEnv, args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr.split("\n")[0]!, /^claude-peers: /);
    assert.match(result.stderr + result.stdout, /Usage: claude-peers/);
  }
});

Deno.test("the MCP server exits when its stdin closes", async () => {
  await using testEnv = await createTestEnv();
  const { command, args } = testEnv.command(["mcp"]);
  // Disposal kills the server if it is still running and awaits its status.
  await using child = new Deno.Command(command, {
    args,
    env: testEnv.env,
    clearEnv: true,
    cwd: testEnv.dir,
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitFor(
    async () => {
      try {
        return (await testEnv.client().status()).peer_count === 1;
      } catch {
        return false;
      }
    },
    15_000,
    "the server to register",
  );
  await child.stdin.close();
  const exited = await Promise.race([
    child.status.then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), 5_000)),
  ]);
  assert.ok(exited, "the server kept running after stdin closed");
  await waitFor(
    async () => (await testEnv.client().status()).peer_count === 0,
    3_000,
    "unregistered",
  );
});

Deno.test("peers, peers --json and status print what a peer controls without its escape sequences", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  // Clear screen, window title, OSC 52 clipboard write, an 8-bit CSI, a bidi override.
  const hostile = "\u001b[2J\u001b]0;title\u0007\u001b]52;c;ZXZpbA==\u0007\u009b2J\u202e";
  await testEnv.client().register({
    pid: Deno.pid,
    cwd: `/tmp/dir${hostile}`,
    git_root: null,
    repo: `repo${hostile}`,
    tty: null,
    summary: `summary${hostile}`,
  });
  // deno-lint-ignore no-control-regex
  const raw = /[\u001b\u0007\u009b\u202e]/;
  for (const args of [["peers"], ["peers", "--json"], ["status"]]) {
    const result = await runCli(testEnv, args);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /summary/, args.join(" "));
    assert.doesNotMatch(result.stdout, raw, `${args.join(" ")}: ${JSON.stringify(result.stdout)}`);
  }
  const json = JSON.parse((await runCli(testEnv, ["peers", "--json"])).stdout);
  assert.equal(json[0].summary, `summary${hostile}`, "the JSON value is unchanged");
});
