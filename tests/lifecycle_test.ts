/**
 * Peers come and go: disappearing when their server dies, surviving broker restarts with
 * their messages and names, and ten servers starting at once sharing one auto-started broker.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createTestEnv,
  ON_WINDOWS,
  posixTestName,
  runCli,
  spawnAll,
  spawnMcp,
  startBroker,
  waitFor,
} from "./_helpers.ts";

async function listedIds(testEnv: Awaited<ReturnType<typeof createTestEnv>>): Promise<string[]> {
  const { peers } = await testEnv.client().listPeers("machine");
  return peers.map((peer) => peer.id);
}

Deno.test({
  name: posixTestName("a peer disappears within 2 s when its server is killed or its stdin closes"),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv();
    await using _broker = await startBroker(testEnv);
    await using killed = await spawnMcp(testEnv);
    await using closed = await spawnMcp(testEnv);
    const killedId = await killed.id();
    const closedId = await closed.id();
    assert.deepEqual((await listedIds(testEnv)).sort(), [killedId, closedId].sort());
    const pid = killed.pid();
    let start = performance.now();
    Deno.kill(pid, "SIGKILL");
    await waitFor(
      async () => !(await listedIds(testEnv)).includes(killedId),
      5_000,
      "killed peer to go",
    );
    const afterKill = performance.now() - start;
    assert.ok(afterKill < 2_000, `killed peer listed for ${afterKill.toFixed(0)} ms`);
    start = performance.now();
    await closed.close();
    await waitFor(
      async () => !(await listedIds(testEnv)).includes(closedId),
      5_000,
      "closed peer to go",
    );
    const afterClose = performance.now() - start;
    assert.ok(afterClose < 2_000, `closed peer listed for ${afterClose.toFixed(0)} ms`);
  },
});

Deno.test("queued messages survive a broker restart and are shown exactly once", async () => {
  await using testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" });
  await using first = await startBroker(testEnv);
  await using bob = await spawnMcp(testEnv);
  const bobId = await bob.id();
  const renamed = await bob.call("set_summary", { name: "bob-the-builder" });
  assert.equal(renamed.isError, false, renamed.text);
  for (const text of ["one", "two", "three"]) {
    const sent = await runCli(testEnv, ["send", bobId, text]);
    assert.equal(sent.code, 0, sent.stderr);
  }
  const status = await first.kill("SIGTERM");
  // SIGTERM is a clean shutdown on POSIX; on Windows Deno can only terminate the process.
  if (!ON_WINDOWS) assert.equal(status.code, 0, first.stderr());
  await using _second = await startBroker(testEnv);
  // bob's server reconnects by itself and keeps its id.
  await waitFor(
    async () => (await listedIds(testEnv)).includes(bobId),
    10_000,
    "bob to reconnect",
  );
  const checked = await bob.call("check_messages");
  assert.match(checked.text, /one[\s\S]*two[\s\S]*three/);
  assert.equal((await bob.call("check_messages")).text, "No new messages.");
  assert.equal(await bob.id(), bobId);
  const whoami = (await bob.call("whoami")).text;
  assert.match(whoami, new RegExp(`^id: ${bobId}$`, "m"));
  assert.match(whoami, /^name: bob-the-builder$/m, "the name survives the broker restart");
});

Deno.test("ten servers started at once share exactly one auto-started broker", async () => {
  await using testEnv = await createTestEnv();
  await using peers = await spawnAll(testEnv, 10);
  // The handshake and tools/list answer at once, before registration is done.
  const tools = await peers[0]!.client.listTools();
  assert.deepEqual(
    tools.tools.map((tool: { name: string }) => tool.name).sort(),
    ["check_messages", "list_peers", "send_message", "set_summary", "whoami"],
  );
  const ids = await Promise.all(peers.map((peer) => peer.id()));
  assert.equal(new Set(ids).size, 10);
  const status = await testEnv.client().status();
  assert.equal(status.peer_count, 10);
  const listed = await runCli(testEnv, ["peers", "--json"]);
  assert.deepEqual(
    (JSON.parse(listed.stdout) as { id: string }[]).map((p) => p.id).sort(),
    ids.sort(),
  );
  // Every losing broker exited: only the winner answers, and it is the one that logged.
  const log = await Deno.readTextFile(`${testEnv.dbPath}.d/broker.log`);
  const listening = log.split("\n").filter((line) => line.includes("listening on"));
  assert.equal(listening.length, 1, log);
  assert.match(listening[0]!, new RegExp(`pid ${status.pid}`));
});
