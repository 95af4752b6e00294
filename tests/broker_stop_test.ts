/**
 * Stopping is bounded whatever clients do: a stream client that never reads does not keep a
 * stopping broker (and its database) alive, and a broker that cannot open its database exits
 * with the reason even while health probes are in flight.
 *
 * @module
 */
import assert from "node:assert/strict";
import { SESSION_HEADER } from "../broker/protocol.ts";
import { createTestEnv, ON_WINDOWS, posixTestName, startBroker } from "./_helpers.ts";

const encoder = new TextEncoder();

Deno.test({
  name: posixTestName(
    "SIGTERM stops the broker within 5 s while a stream client with queued data never reads",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv();
    await using broker = await startBroker(testEnv);
    const client = testEnv.client();
    const { peer_id, session } = await client.register({
      pid: Deno.pid,
      cwd: testEnv.dir,
      git_root: null,
      repo: null,
      tty: null,
    });
    const secret = (await Deno.readTextFile(`${testEnv.dbPath}.d/secret`)).trim();
    const stuck = await Deno.connect({ hostname: "127.0.0.1", port: testEnv.port });
    try {
      await stuck.write(encoder.encode(
        `GET /stream HTTP/1.1\r\nHost: 127.0.0.1:${testEnv.port}\r\n` +
          `Authorization: Bearer ${secret}\r\n${SESSION_HEADER}: ${session}\r\n\r\n`,
      ));
      // Far more than the socket buffers hold: the broker has data queued for this client.
      const text = "x".repeat(30_000);
      const sender = testEnv.client();
      for (let i = 0; i < 300; i++) await sender.send({ to_id: peer_id, text, from_name: "t" });
      const start = performance.now();
      const exited = broker.kill("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        exited,
        new Promise<"hung">((resolve) => timer = setTimeout(resolve, 10_000, "hung")),
      ]);
      clearTimeout(timer);
      const took = performance.now() - start;
      if (outcome === "hung") {
        await broker.kill("SIGKILL");
        assert.fail("the broker was still running 10 s after SIGTERM");
      }
      assert.equal(outcome.code, 0, broker.stderr());
      assert.ok(took < 5_000, `the broker took ${Math.round(took)} ms to exit`);
      assert.match(broker.stderr(), /shutting down: received SIGTERM/);
    } finally {
      stuck.close();
      await broker.kill("SIGKILL");
    }
    // The database was closed cleanly: the next broker opens it.
    await using _next = await startBroker(testEnv);
    await testEnv.client().health();
  },
});

Deno.test({
  name: posixTestName(
    "a broker that cannot open its database exits with the reason while health probes are in flight",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv();
    await Deno.writeFile(testEnv.dbPath, crypto.getRandomValues(new Uint8Array(65_536)));
    let probing = true;
    const probe = async () => {
      const head = encoder.encode(
        `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${testEnv.port}\r\n\r\n`,
      );
      while (probing) {
        let conn: Deno.Conn | undefined;
        try {
          conn = await Deno.connect({ hostname: "127.0.0.1", port: testEnv.port });
          const open = conn;
          const bound = setTimeout(() => open.close(), 500);
          await conn.write(head);
          await conn.read(new Uint8Array(1024));
          clearTimeout(bound);
          conn.close();
        } catch {
          // Refused: the broker is not listening (yet); try again at once.
        }
      }
    };
    const probes = Array.from({ length: 8 }, probe);
    try {
      for (let round = 0; round < 8; round++) {
        const { command, args } = testEnv.command(["broker"]);
        const child = new Deno.Command(command, {
          args,
          env: testEnv.env,
          clearEnv: true,
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const output = child.output();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const outcome = await Promise.race([
          output,
          new Promise<"hung">((resolve) => timer = setTimeout(resolve, 10_000, "hung")),
        ]);
        clearTimeout(timer);
        if (outcome === "hung") {
          child.kill("SIGKILL");
          await output;
          assert.fail(`round ${round}: the broker did not exit within 10 s`);
        }
        assert.equal(outcome.code, 1);
        assert.match(new TextDecoder().decode(outcome.stderr), /Cannot open the database/);
      }
    } finally {
      probing = false;
      await Promise.all(probes);
    }
  },
});

async function socketDirs(): Promise<Set<string>> {
  const found = new Set<string>();
  for await (const entry of Deno.readDir("/tmp")) {
    if (entry.name.startsWith("claude-peers-sock-")) found.add(`/tmp/${entry.name}`);
  }
  return found;
}

Deno.test({
  name: posixTestName(
    "a state directory too deep for a socket path serves from an owner-only temp directory, removed at exit",
    "the gate is not used on Windows",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using base = await createTestEnv();
    const deep = `${base.dir}/${"d".repeat(60)}/${"e".repeat(60)}/peers.db`;
    await using testEnv = await createTestEnv({ CLAUDE_PEERS_DB: deep });
    const before = await socketDirs();
    const broker = await startBroker(testEnv);
    try {
      await testEnv.client().listPeers("machine");
      const added = [...await socketDirs()].filter((dir) => !before.has(dir));
      assert.equal(added.length, 1, `new socket directories: ${added.join(", ")}`);
      assert.equal((await Deno.stat(added[0]!)).mode! & 0o777, 0o700);
      assert.ok((await Deno.stat(`${added[0]}/broker.sock`)).isSocket);
      assert.equal((await broker.kill("SIGTERM")).code, 0);
      assert.equal((await socketDirs()).has(added[0]!), false, "removed at exit");
    } finally {
      await broker.kill("SIGKILL");
    }
  },
});
