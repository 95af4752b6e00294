/**
 * The broker cannot be starved from outside: connections that never finish a request head
 * are closed within the header timeout, a flood of them leaves authenticated peers served, a
 * broker out of file descriptors keeps running and serving, and idle connections without
 * credentials are closed while authenticated streams and waits are not.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type RegisterResponse, SESSION_HEADER } from "../broker/protocol.ts";
import type { BrokerClient } from "../broker/client.ts";
import { createTestEnv, ON_WINDOWS, posixTestName, startBroker, waitFor } from "./_helpers.ts";
import { startFlood } from "./_fixtures/half_open.ts";

const HEADER_TIMEOUT_MS = 1_500;
/** Scheduling slack on a loaded machine. */
const MARGIN_MS = 3_000;

/** Registers a peer (listed to every other caller). */
async function register(client: BrokerClient, cwd: string): Promise<RegisterResponse> {
  return await client.register({ pid: Deno.pid, cwd, git_root: null, repo: null, tty: null });
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

Deno.test({
  name: posixTestName(
    "1,100 half-open connections: list_peers p99 stays under 50 ms and each is closed within the header timeout",
    "the gate is not used on Windows",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv({
      CLAUDE_PEERS_HEADER_TIMEOUT_MS: String(HEADER_TIMEOUT_MS),
    });
    await using broker = await startBroker(testEnv);
    const client = testEnv.client();
    await register(testEnv.client(), testEnv.dir);
    for (let i = 0; i < 20; i++) await client.listPeers("machine");

    await using flood = startFlood(testEnv.port, 1_100, {
      partial: true,
      deadlineMs: 30_000,
    });
    let done = false;
    flood.report.finally(() => done = true).catch(() => {});
    const took: number[] = [];
    while (!done || took.length < 200) {
      const start = performance.now();
      const { peers } = await client.listPeers("machine");
      took.push(performance.now() - start);
      assert.equal(peers.length, 1);
    }
    const report = await flood.report;
    took.sort((a, b) => a - b);
    const p99 = percentile(took, 0.99);
    assert.ok(p99 < 50, `list_peers p99 ${p99.toFixed(1)} ms over ${took.length} calls`);
    assert.equal(report.opened + report.refused, 1_100);
    assert.equal(report.stillOpen, 0, "every half-open connection was closed");
    const longest = report.lifetimesMs.at(-1) ?? 0;
    assert.ok(
      longest <= HEADER_TIMEOUT_MS + MARGIN_MS,
      `the longest half-open connection lived ${longest} ms`,
    );
    await testEnv.client().health();
    assert.doesNotMatch(broker.stderr(), /unhandled|uncaught/i);
  },
});

Deno.test({
  name: posixTestName(
    "with 200 file descriptors, a flood of 1,000 connections neither ends the broker nor stops it serving",
    "needs ulimit",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv({
      CLAUDE_PEERS_HEADER_TIMEOUT_MS: String(HEADER_TIMEOUT_MS),
    });
    await using broker = await startBroker(testEnv, { fileLimit: 200 });
    const client = testEnv.client();
    await register(testEnv.client(), testEnv.dir);

    await using flood = startFlood(testEnv.port, 1_000, { partial: false, deadlineMs: 30_000 });
    await flood.holding;
    // During the flood: the authenticated connection is served, and a new client gets in.
    assert.equal((await client.listPeers("machine")).peers.length, 1);
    await waitFor(
      async () => {
        try {
          return (await testEnv.client().listPeers("machine")).peers.length === 1;
        } catch {
          return false;
        }
      },
      10_000,
      "a new client to be served during the flood",
    );
    const report = await flood.report;
    assert.equal(report.stillOpen, 0);
    // After it: the broker runs and serves.
    assert.equal((await testEnv.client().listPeers("machine")).peers.length, 1);
    assert.match(broker.stderr(), /dropping the oldest/);
    assert.doesNotMatch(broker.stderr(), /unhandled|uncaught|stopped accepting/i);
    const status = await Promise.race([
      broker.process.status,
      new Promise((resolve) => setTimeout(resolve, 100, "running")),
    ]);
    assert.equal(status, "running");
  },
});

Deno.test({
  name: posixTestName(
    "idle connections without credentials are closed; authenticated streams and waits are not",
    "the gate is not used on Windows",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    const IDLE_MS = 600;
    await using testEnv = await createTestEnv({ CLAUDE_PEERS_IDLE_TIMEOUT_MS: String(IDLE_MS) });
    await using _broker = await startBroker(testEnv);
    const streamer = testEnv.client();
    const { peer_id: streamerId } = await register(streamer, testEnv.dir);
    const waiter = testEnv.client();
    const { peer_id: waiterId, session } = await register(waiter, testEnv.dir);
    const stopStream = new AbortController();
    const events = streamer.stream(stopStream.signal);
    assert.equal((await events.next()).value?.type, "hello");
    const secret = (await Deno.readTextFile(`${testEnv.dbPath}.d/secret`)).trim();
    const waiting = fetch(`http://127.0.0.1:${testEnv.port}/wait`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${secret}`,
        "content-type": "application/json",
        [SESSION_HEADER]: session,
      },
      body: "{}",
    }).then((response) => response.json());

    const silent = await Deno.connect({ hostname: "127.0.0.1", port: testEnv.port });
    const asked = await Deno.connect({ hostname: "127.0.0.1", port: testEnv.port });
    await asked.write(
      new TextEncoder().encode(`GET /health HTTP/1.1\r\nHost: 127.0.0.1:${testEnv.port}\r\n\r\n`),
    );
    const start = performance.now();
    const [silentEnd, askedEnd] = await Promise.all([silent, asked].map(async (conn) => {
      const buffer = new Uint8Array(4096);
      let text = "";
      // Bounded: a connection the broker never closes fails the assertion below.
      const bound = setTimeout(() => conn.close(), IDLE_MS + MARGIN_MS * 2);
      try {
        let read;
        while ((read = await conn.read(buffer)) !== null) {
          text += new TextDecoder().decode(buffer.subarray(0, read));
        }
      } catch { /* reset counts as closed */ }
      clearTimeout(bound);
      try {
        conn.close();
      } catch { /* closed by the bound */ }
      return { text, after: performance.now() - start };
    }));
    assert.equal(silentEnd!.text, "");
    assert.match(askedEnd!.text, /^HTTP\/1\.1 200/);
    for (const end of [silentEnd!, askedEnd!]) {
      assert.ok(end.after < IDLE_MS + MARGIN_MS, `closed after ${Math.round(end.after)} ms`);
    }

    // Three idle timeouts later, the stream and the wait still deliver.
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 3));
    const sender = testEnv.client();
    await sender.send({ to_id: streamerId, text: "to the stream", from_name: "test" });
    await sender.send({ to_id: waiterId, text: "to the waiter", from_name: "test" });
    const next = await events.next();
    assert.equal(next.value?.type === "message" && next.value.message.text, "to the stream");
    const woke = await waiting;
    assert.equal(woke.state, "messages");
    assert.equal(woke.messages[0].text, "to the waiter");
    stopStream.abort();
    await events.return(undefined).catch(() => {});
  },
});
