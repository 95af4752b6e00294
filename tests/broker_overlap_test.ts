/**
 * A broker that is slow to stop (a stream client that does not read, a suspended session) frees
 * its port before it exits. kill-broker waits for the exit itself, and a broker started in that
 * window keeps its socket when the old one exits; a broker for a database that another broker
 * serves on another port refuses: real brokers, a real CLI.
 *
 * @module
 */
import assert from "node:assert/strict";
import { SESSION_HEADER } from "../broker/protocol.ts";
import {
  brokerCommand,
  createTestEnv,
  freePort,
  runCli,
  startBroker,
  type TestEnv,
  within,
} from "./_helpers.ts";

/**
 * A stream whose client reads nothing, with more queued for it than the socket buffers hold:
 * the broker's graceful stop waits for it.
 */
async function stuckStream(testEnv: TestEnv): Promise<Deno.Conn> {
  const client = testEnv.client();
  const { peer_id, session } = await client.register({
    pid: Deno.pid,
    cwd: testEnv.dir,
    git_root: null,
    repo: null,
    tty: null,
  });
  const secret = (await Deno.readTextFile(`${testEnv.dbPath}.d/secret`)).trim();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: testEnv.port });
  await conn.write(new TextEncoder().encode(
    `GET /stream HTTP/1.1\r\nHost: 127.0.0.1:${testEnv.port}\r\n` +
      `Authorization: Bearer ${secret}\r\n${SESSION_HEADER}: ${session}\r\n\r\n`,
  ));
  const text = "x".repeat(30_000);
  // As the CLI: the registering client now speaks for the peer.
  const sender = testEnv.client();
  for (let i = 0; i < 200; i++) await sender.send({ to_id: peer_id, text, from_name: "t" });
  return conn;
}

Deno.test("kill-broker says stopped only once the broker has exited", async () => {
  await using testEnv = await createTestEnv();
  await using broker = await startBroker(testEnv);
  const stuck = await stuckStream(testEnv);
  try {
    const killed = await within(runCli(testEnv, ["kill-broker"]), "kill-broker", 20_000);
    assert.equal(killed.code, 0, killed.stderr);
    assert.match(killed.stdout, /stopped/);
    // Exited already: this process only has to notice (a broker that had merely freed its port
    // would go on finishing its replies for a second or more).
    await within(broker.process.status, 'the broker\'s exit after "stopped"', 500);
  } finally {
    stuck.close();
  }
});

Deno.test("a broker started while the previous one stops keeps its socket when that one exits", async () => {
  await using testEnv = await createTestEnv();
  await using first = await startBroker(testEnv);
  const stuck = await stuckStream(testEnv);
  try {
    await testEnv.client().shutdown();
    // The port is free before the first broker has finished its replies: the next command's
    // broker starts in that window.
    await using second = await startBroker(testEnv);
    const secondPid = (await testEnv.client().status()).pid;
    assert.notEqual(secondPid, first.process.pid);
    await within(first.process.status, "the first broker's exit", 15_000);
    assert.equal((await testEnv.client().status()).pid, secondPid, "the new broker answers");
    const peers = await within(runCli(testEnv, ["peers"]), "peers", 15_000);
    assert.equal(peers.code, 0, peers.stderr);
    await second.kill();
  } finally {
    stuck.close();
  }
});

Deno.test("a second broker for the same database on another port refuses, naming why", async () => {
  await using testEnv = await createTestEnv();
  await using first = await startBroker(testEnv);
  const second = await within(
    brokerCommand(testEnv, [], {
      env: { CLAUDE_PEERS_PORT: String(freePort()) },
      stderr: "piped",
    }).output(),
    "the second broker's exit",
    20_000,
  );
  assert.equal(second.code, 1);
  assert.match(new TextDecoder().decode(second.stderr), /Another broker serves the database/);
  assert.equal((await testEnv.client().status()).pid, first.process.pid, "the first still serves");
});
