/**
 * The MCP server's start before the SDK loads (mcp/start.ts, mcp/connection.ts): a connection
 * registers without a listener and opens its push stream once given one; the head start ends
 * once registered, or at once when no broker answers yet. Against a real broker
 * process in a temp environment; every wait is bounded and everything started is stopped.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveConfig } from "../broker/config.ts";
import { ensurePrivateDirectory } from "../broker/secret.ts";
import type { Message } from "../broker/protocol.ts";
import { PeerConnection } from "../mcp/connection.ts";
import type { SessionContext } from "../mcp/context.ts";
import { startSession } from "../mcp/start.ts";
import { createTestEnv, startBroker, type TestEnv, waitFor } from "./_helpers.ts";

function configOf(testEnv: TestEnv) {
  return resolveConfig({ get: (name) => testEnv.env[name] });
}

function sessionIn(dir: string): SessionContext {
  return {
    pid: Deno.pid,
    ppid: Deno.ppid,
    cwd: dir,
    gitRoot: null,
    repo: null,
    branch: null,
    tty: null,
  };
}

Deno.test("a connection registers before it has a listener, and streams once given one", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  const connection = new PeerConnection(configOf(testEnv), sessionIn(testEnv.dir));
  try {
    connection.start();
    await connection.firstAttempt(10_000);
    const id = connection.peerId;
    assert.ok(id, "registered without a listener");
    const { peers } = await testEnv.client().listPeers("machine");
    assert.ok(peers.some((peer) => peer.id === id), "listed by the broker");

    await testEnv.client().send({ to_id: id, text: "waited", from_name: "tester" });
    const received: Message[] = [];
    connection.start({ onMessage: (message) => void received.push(message) });
    await waitFor(() => received.length > 0, 10_000, "the message sent before the listener");
    assert.equal(received[0]!.text, "waited");
  } finally {
    await connection.close();
  }
});

Deno.test("the head start ends at once when no broker answers yet", async () => {
  await using testEnv = await createTestEnv();
  const config = configOf(testEnv);
  // Another starter holds the spawn lock: this connection waits for that broker, starts none.
  await ensurePrivateDirectory(config.stateDir);
  await Deno.writeTextFile(join(config.stateDir, "spawn.lock"), "1");
  const connection = new PeerConnection(config, sessionIn(testEnv.dir));
  try {
    connection.start();
    // Well under ensureBroker's own 15 s wait, which is what the head start must not sit out.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      connection.firstAttempt(60_000).then(() => "ended"),
      new Promise((resolve) => timer = setTimeout(() => resolve("still waiting"), 5_000)),
    ]);
    clearTimeout(timer);
    assert.equal(outcome, "ended");
    assert.equal(connection.peerId, undefined, "no broker answered yet");
    await using _broker = await startBroker(testEnv);
    await waitFor(() => connection.peerId !== undefined, 10_000, "registration once it answers");
  } finally {
    await connection.close();
  }
});

Deno.test("startSession returns a registered session with its facts", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  const started = await startSession(configOf(testEnv));
  try {
    assert.equal(started.session.pid, Deno.pid);
    assert.equal(started.session.cwd, Deno.cwd());
    assert.equal(started.channel, true, "CLAUDE_PEERS_CHANNEL=on");
    await waitFor(() => started.connection.peerId !== undefined, 10_000, "registration");
    const { peers } = await testEnv.client().listPeers("machine");
    const listed = peers.find((peer) => peer.id === started.connection.peerId);
    assert.equal(listed?.cwd, Deno.cwd());
  } finally {
    await started.connection.close();
  }
});
