/**
 * Delivery that survives faults, with real processes and real signals: a broker killed with
 * SIGKILL, a server killed with SIGKILL, a reused pid, two brokers at once, a corrupt database.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createTestEnv,
  ON_WINDOWS,
  posixTestName,
  spawnMcp,
  startBroker,
  type TestEnv,
  waitFor,
} from "./_helpers.ts";

async function brokerPid(testEnv: TestEnv): Promise<number | null> {
  try {
    return (await testEnv.client().status()).pid;
  } catch {
    return null;
  }
}

Deno.test({
  name: posixTestName(
    "after a broker SIGKILL the next broker serves every queued message to reconnected peers",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv();
    // No broker yet: the servers auto-start one, as in real use.
    await using alice = await spawnMcp(testEnv);
    await using bob = await spawnMcp(testEnv, { env: { CLAUDE_PEERS_CHANNEL: "off" } });
    await using carol = await spawnMcp(testEnv);
    const [aliceId, bobId, carolId] = await Promise.all([alice.id(), bob.id(), carol.id()]);
    await bob.call("set_summary", { summary: "bob keeps his summary" });
    for (let i = 0; i < 5; i++) {
      await alice.call("send_message", { to_id: bobId, message: `to bob ${i}` });
    }
    const firstPid = await brokerPid(testEnv);
    assert.ok(firstPid);
    Deno.kill(firstPid, "SIGKILL");
    // A tool call made while the broker is down succeeds once a new broker is up.
    const during = await alice.call("send_message", {
      to_id: carolId,
      message: "sent during the restart",
    });
    assert.equal(during.isError, false, during.text);
    const secondPid = await brokerPid(testEnv);
    assert.ok(secondPid && secondPid !== firstPid, "a new broker was auto-started");
    await waitFor(
      () => carol.channel.some((n) => n.content === "sent during the restart"),
      10_000,
      "carol",
    );
    const checked = await bob.call("check_messages");
    for (let i = 0; i < 5; i++) assert.match(checked.text, new RegExp(`to bob ${i}`));
    assert.equal((await bob.call("check_messages")).text, "No new messages.");
    // Every server kept its id and re-registered its details.
    await waitFor(
      async () => (await testEnv.client().listPeers("machine")).peers.length === 3,
      10_000,
      "3 peers",
    );
    const { peers } = await testEnv.client().listPeers("machine");
    assert.deepEqual(peers.map((peer) => peer.id).sort(), [aliceId, bobId, carolId].sort());
    assert.equal(peers.find((peer) => peer.id === bobId)?.summary, "bob keeps his summary");
    assert.equal(peers.find((peer) => peer.id === aliceId)?.cwd, testEnv.dir);
    assert.equal(carol.channel.filter((n) => n.content === "sent during the restart").length, 1);
  },
});

Deno.test({
  name: posixTestName(
    "a peer killed with SIGKILL leaves at once and its queued messages show as undelivered",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" });
    await using _broker = await startBroker(testEnv);
    await using alice = await spawnMcp(testEnv);
    await using bob = await spawnMcp(testEnv);
    const bobId = await bob.id();
    await alice.call("send_message", { to_id: bobId, message: "you will not read this" });
    const start = performance.now();
    Deno.kill(bob.pid(), "SIGKILL");
    await waitFor(
      async () => (await testEnv.client().listPeers("machine")).peers.length === 1,
      5_000,
      "bob gone",
    );
    assert.ok(performance.now() - start < 2_000);
    const checked = await alice.call("check_messages");
    assert.match(
      checked.text,
      new RegExp(`not yet delivered:\\n- \\S+ to ${bobId}, sent .*\\(recipient not connected\\)`),
    );
    const again = await alice.call("send_message", { to_id: bobId, message: "hello?" });
    assert.equal(again.isError, true);
    assert.match(again.text, new RegExp(`Peer "${bobId}" is not registered`));
  },
});

Deno.test({
  name: posixTestName(
    "a live but unrelated process with a registered pid does not keep a ghost peer listed",
    "uses sleep(1)",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv({ CLAUDE_PEERS_LEASE_MS: "1500" });
    await using _broker = await startBroker(testEnv);
    // Disposing a child process kills it and awaits its status.
    await using sleeper = new Deno.Command("sleep", {
      args: ["30"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const ghost = testEnv.client();
    const { peer_id } = await ghost.register({
      pid: sleeper.pid,
      cwd: testEnv.dir,
      git_root: null,
      repo: null,
      tty: null,
    });
    assert.deepEqual((await testEnv.client().listPeers("machine")).peers.map((p) => p.id), [
      peer_id,
    ]);
    await waitFor(
      async () => (await testEnv.client().listPeers("machine")).peers.length === 0,
      5_000,
      "ghost gone",
    );
    assert.equal((await testEnv.client().status()).peer_count, 0);
  },
});

Deno.test("two brokers started at once: one serves, the other exits naming the port", async () => {
  await using testEnv = await createTestEnv();
  const { command, args } = testEnv.command(["broker"]);
  const start = () =>
    new Deno.Command(command, {
      args,
      env: testEnv.env,
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
    }).spawn();
  // Disposing a child process sends SIGTERM and awaits its status (the loser has exited).
  await using first = start();
  await using second = start();
  const loser = await Promise.race([
    first.output().then((output) => ({ output, winner: second })),
    second.output().then((output) => ({ output, winner: first })),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("neither broker exited")), 20_000)
    ),
  ]);
  assert.notEqual(loser.output.code, 0);
  assert.match(
    new TextDecoder().decode(loser.output.stderr),
    new RegExp(`Port ${testEnv.port} is already in use`),
  );
  await waitFor(
    async () => (await brokerPid(testEnv)) === loser.winner.pid,
    15_000,
    "the winner to answer",
  );
  const registration = { pid: Deno.pid, cwd: testEnv.dir, git_root: null, repo: null, tty: null };
  const client = testEnv.client();
  const { peer_id } = await client.register(registration);
  await client.send({ to_id: peer_id, text: "still fine" });
  assert.deepEqual((await client.inbox()).messages.map((m) => m.text), ["still fine"]);
});

Deno.test("a corrupt database is reported and left untouched", async () => {
  await using testEnv = await createTestEnv();
  const garbage = new TextEncoder().encode("definitely not a sqlite database ".repeat(200));
  await Deno.writeFile(testEnv.dbPath, garbage);
  const { command, args } = testEnv.command(["broker"]);
  const output = await new Deno.Command(command, {
    args,
    env: testEnv.env,
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.notEqual(output.code, 0);
  assert.match(
    new TextDecoder().decode(output.stderr),
    /Cannot open the database .*left untouched/,
  );
  assert.deepEqual(await Deno.readFile(testEnv.dbPath), garbage);
});
