/**
 * The connection gate in-process, in front of a small real server: which request heads
 * authenticate a connection, the oldest unauthenticated connection dropped first at the cap,
 * and failing accepts (out of file descriptors) survived, logged once and recovered from.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { headEnd, readRequestHead } from "../broker/request_head.ts";
import { ConnectionGate, type GateOptions } from "../broker/gate.ts";
import { logToFile } from "../broker/log.ts";
import { createTempDir, waitFor } from "./_helpers.ts";

const credentials = { secret: "s3cret", hookToken: "t0ken" };
const encoder = new TextEncoder();

function head(text: string): Uint8Array {
  return encoder.encode(text.replaceAll("\n", "\r\n"));
}

Deno.test("a request head authenticates with the bearer secret or the hook token, nothing else", () => {
  const verdict = (text: string) => readRequestHead(head(text), credentials);
  const authenticated = (text: string) => {
    const result = verdict(text);
    return result.kind === "request" && result.authenticated;
  };
  assert.equal(authenticated("GET /status HTTP/1.1\nAuthorization: Bearer s3cret\n\n"), true);
  assert.equal(authenticated("GET /status HTTP/1.1\nauthorization:Bearer s3cret \n\n"), true);
  assert.equal(authenticated("GET /status HTTP/1.1\nAuthorization: Bearer s3cre\n\n"), false);
  assert.equal(authenticated("GET /status HTTP/1.1\nAuthorization: Basic s3cret\n\n"), false);
  assert.equal(authenticated("POST /hook/context?token=t0ken HTTP/1.1\n\n"), true);
  assert.equal(authenticated("POST /hook/context?token=wrong HTTP/1.1\n\n"), false);
  assert.equal(authenticated("POST /status?token=t0ken HTTP/1.1\n\n"), false);
  assert.equal(authenticated("GET /health HTTP/1.1\nX-Token: s3cret\n\n"), false);

  assert.deepEqual(verdict("POST /send HTTP/1.1\nContent-Length: 12\n\n"), {
    kind: "request",
    authenticated: false,
    contentLength: 12,
    chunked: false,
  });
  const chunked = verdict("POST /send HTTP/1.1\nTransfer-Encoding: chunked\n\n");
  assert.equal(chunked.kind === "request" && chunked.chunked, true);
  assert.equal(
    verdict("POST /send HTTP/1.1\nContent-Length: 1\nContent-Length: 2\n\n").kind,
    "bad",
  );
  assert.equal(verdict("POST /send HTTP/1.1\nContent-Length: -1\n\n").kind, "bad");
  assert.equal(verdict("hello\n\n").kind, "bad");
  assert.equal(verdict("GET / HTTP/1.1\nno colon here\n\n").kind, "bad");

  assert.equal(headEnd(head("GET / HTTP/1.1\nHost: x\n\nbody")), 27);
  assert.equal(headEnd(head("GET / HTTP/1.1\nHost: x\n")), -1);
});

/** A gate on a free port in front of a small server that answers every request with "ok". */
async function withGate(
  options: Partial<GateOptions>,
  run: (gate: ConnectionGate, port: number) => Promise<void>,
): Promise<void> {
  const inner = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("ok"),
  );
  const gate = new ConnectionGate({
    hostname: "127.0.0.1",
    port: 0,
    credentials,
    connectInner: () => Deno.connect({ hostname: "127.0.0.1", port: inner.addr.port }),
    headerTimeoutMs: 10_000,
    idleTimeoutMs: 10_000,
    ...options,
  });
  try {
    await run(gate, gate.port);
  } finally {
    await gate.stopAccepting();
    gate.closeAll();
    await gate.settled();
    await inner.shutdown();
  }
}

/** Whether the broker side closed `conn` (EOF or reset) within `ms`. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const timer = setTimeout(() => conn.close(), ms);
  try {
    while (await conn.read(new Uint8Array(1024)) !== null) { /* the reply */ }
  } catch (error) {
    if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
      return false;
    }
  }
  clearTimeout(timer);
  conn.close();
  return true;
}

Deno.test("at the cap, the oldest unauthenticated connection is dropped first; trusted ones never", async () => {
  await withGate({ maxUnauthenticated: 3 }, async (gate, port) => {
    const connect = () => Deno.connect({ hostname: "127.0.0.1", port });
    const trusted = await connect();
    await trusted.write(
      head("GET /status HTTP/1.1\nHost: x\nAuthorization: Bearer s3cret\n\n"),
    );
    const reply = new Uint8Array(1024);
    assert.match(new TextDecoder().decode(reply.subarray(0, await trusted.read(reply) ?? 0)), /ok/);
    const silent: Deno.Conn[] = [];
    // Accepted in the order they connect: the first two are the oldest.
    for (let i = 0; i < 5; i++) silent.push(await connect());
    await waitFor(() => gate.counts.unauthenticated === 3, 5_000, "the cap to hold");
    assert.equal(await closedWithin(silent[0]!, 2_000), true, "the oldest was dropped");
    assert.equal(await closedWithin(silent[1]!, 2_000), true, "the second oldest was dropped");
    for (const conn of silent.slice(2)) assert.equal(await closedWithin(conn, 200), false);
    // The trusted connection still works.
    await trusted.write(head("GET /status HTTP/1.1\nHost: x\n\n"));
    assert.match(new TextDecoder().decode(reply.subarray(0, await trusted.read(reply) ?? 0)), /ok/);
    trusted.close();
  });
});

Deno.test("failing accepts (out of file descriptors) are logged once, shed the oldest, and accepting goes on", async () => {
  await using temp = await createTempDir("claude-peers-gate-");
  const logPath = join(temp.path, "log");
  logToFile(logPath);
  const real = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let failures = 0;
  const failing = {
    addr: real.addr,
    accept: async () => {
      const conn = await real.accept();
      if (failures >= 1 && failures < 6) {
        failures++;
        conn.close();
        throw new Error("Too many open files (os error 24)");
      }
      failures++;
      return conn;
    },
    close: () => real.close(),
  } as unknown as Deno.Listener;
  await withGate({ listener: failing }, async (gate, _port) => {
    const port = (real.addr as Deno.NetAddr).port;
    const first = await Deno.connect({ hostname: "127.0.0.1", port });
    await waitFor(() => gate.counts.unauthenticated === 1, 5_000, "the first connection");
    // The next five accepts fail; each failure drops the oldest unauthenticated connection.
    const refused = [];
    for (let i = 0; i < 5; i++) refused.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    assert.equal(await closedWithin(first, 5_000), true, "the oldest was shed");
    for (const conn of refused) assert.equal(await closedWithin(conn, 5_000), true);
    const after = await Deno.connect({ hostname: "127.0.0.1", port });
    await after.write(head("GET /health HTTP/1.1\nHost: x\n\n"));
    const reply = new Uint8Array(1024);
    assert.match(new TextDecoder().decode(reply.subarray(0, await after.read(reply) ?? 0)), /ok/);
    after.close();
  });
  const log = await Deno.readTextFile(logPath);
  assert.equal(log.match(/cannot accept a connection/g)?.length, 1, log);
  assert.match(log, /Too many open files/);
});

/** Sends `bytes` on a new connection and returns everything the gate answers until it closes. */
async function exchange(port: number, bytes: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 5_000);
  let text = "";
  try {
    await conn.write(bytes);
    const buffer = new Uint8Array(4096);
    let read;
    while ((read = await conn.read(buffer)) !== null) {
      text += new TextDecoder().decode(buffer.subarray(0, read));
      if (text.includes("\r\n\r\nok")) break;
    }
  } catch { /* reset after the refusal */ }
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* closed by the timer */ }
  return text;
}

Deno.test("before credentials, an oversized head or a chunked body is refused; after them, anything passes", async () => {
  await withGate({}, async (_gate, port) => {
    const big = `GET /health HTTP/1.1\nHost: x\nX-Pad: ${"p".repeat(17_000)}\n\n`;
    assert.match(await exchange(port, head(big)), /^HTTP\/1\.1 431 /);
    const chunked = "POST /send HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n2\n{}\n0\n\n";
    assert.match(await exchange(port, head(chunked)), /^HTTP\/1\.1 411 /);
    assert.match(await exchange(port, head("GET / HTTP/1.1\nHost: x\n\n")), /^HTTP\/1\.1 200 /);
    const trusted = "POST /send HTTP/1.1\nHost: x\nAuthorization: Bearer s3cret\n" +
      "Transfer-Encoding: chunked\n\n2\n{}\n0\n\n";
    assert.match(await exchange(port, head(trusted)), /^HTTP\/1\.1 200 /);
  });
});

Deno.test("only a head with credentials asks who the client is; a refused one gets 403 and nothing forwarded", async () => {
  await using temp = await createTempDir("claude-peers-gate-");
  const logPath = join(temp.path, "log");
  logToFile(logPath);
  const asked: number[] = [];
  let refuse = true;
  await withGate({
    checkClient: (conn) => {
      asked.push((conn.remoteAddr as Deno.NetAddr).port);
      return Promise.resolve(refuse ? "it belongs to user 4242" : null);
    },
  }, async (_gate, port) => {
    for (let i = 0; i < 20; i++) {
      assert.match(await exchange(port, head("GET /health HTTP/1.1\nHost: x\n\n")), /ok/);
      await exchange(port, head("GET /status HTTP/1.1\nAuthorization: Bearer wrong\n\n"));
    }
    assert.deepEqual(asked, [], "connections without the credentials cost no lookup");

    for (
      const text of [
        "GET /status HTTP/1.1\nAuthorization: Bearer s3cret\n\n",
        "POST /hook/context?token=t0ken HTTP/1.1\nContent-Length: 0\n\n",
      ]
    ) {
      const reply = await exchange(port, head(text));
      assert.match(reply, /^HTTP\/1\.1 403 /);
      assert.doesNotMatch(reply, /ok/, "nothing reached the server");
    }
    assert.equal(asked.length, 2);

    refuse = false;
    assert.match(
      await exchange(port, head("GET /status HTTP/1.1\nAuthorization: Bearer s3cret\n\n")),
      /200 OK[\s\S]*ok/,
    );
    assert.equal(asked.length, 3);
  });
  const lines = (await Deno.readTextFile(logPath)).split("\n").filter((line) =>
    line.includes("refused a connection")
  );
  assert.equal(lines.length, 1, "two refusals in a burst are one line");
  assert.match(lines[0]!, /credentials: it belongs to user 4242/);
});
