/**
 * UnixHttpPool: whole-body HTTP/1.1 calls over a Unix socket on kept-alive connections. Against
 * a hand-written server on a real socket (so the test sees every connection and every byte):
 * replies sized by Content-Length or chunked, one connection reused across calls, a new one
 * after `connection: close` or a connection the server dropped, and a deadline that closes the
 * connection of a reply that never comes. Also against `Deno.serve`, what the broker runs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { UnixHttpPool } from "../broker/unix_http.ts";
import { createTempDir } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the hand-written server answers to the request it read (its head and body). */
type Answer = (request: string) => string | null;

/** A server on `path` that answers each request with `answer` (null: no answer, keep reading). */
function serveRaw(path: string, answer: Answer) {
  const listener = Deno.listen({ transport: "unix", path });
  const requests: string[] = [];
  let accepted = 0;
  const conns = new Set<Deno.Conn>();
  const handle = async (conn: Deno.Conn) => {
    const buffer = new Uint8Array(65536);
    let pending = new Uint8Array(0);
    try {
      while (true) {
        const read = await conn.read(buffer);
        if (read === null) break;
        const joined = new Uint8Array(pending.byteLength + read);
        joined.set(pending);
        joined.set(buffer.subarray(0, read), pending.byteLength);
        pending = joined;
        // Heads are ASCII: a character is a byte up to their end.
        const end = decoder.decode(pending).indexOf("\r\n\r\n");
        if (end < 0) continue;
        const head = decoder.decode(pending.subarray(0, end));
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.byteLength < end + 4 + length) continue;
        const request = decoder.decode(pending.subarray(0, end + 4 + length));
        pending = pending.slice(end + 4 + length);
        requests.push(request);
        const reply = answer(request);
        if (reply === null) continue;
        await conn.write(encoder.encode(reply));
        if (/connection: close/i.test(reply)) break;
      }
    } catch {
      // The client went away.
    }
    conns.delete(conn);
    try {
      conn.close();
    } catch { /* closed */ }
  };
  const serving = (async () => {
    for await (const conn of listener) {
      accepted++;
      conns.add(conn);
      void handle(conn);
    }
  })();
  return {
    requests,
    accepted: () => accepted,
    /** Drops every open connection, as a broker that stops does. */
    dropAll() {
      for (const conn of conns) conn.close();
      conns.clear();
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) conn.close();
      await serving.catch(() => {});
    },
  };
}

function ok(body: string, extra = ""): string {
  return `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n${extra}content-length: ${
    encoder.encode(body).byteLength
  }\r\n\r\n${body}`;
}

const json = (headers: Record<string, string> = {}) =>
  new Headers({ "content-type": "application/json", ...headers });

Deno.test({
  name:
    "calls share one kept-alive connection, send the head and body given, and read sized and chunked replies",
  ignore: Deno.build.os === "windows",
}, async () => {
  await using dir = await createTempDir("unix-http-");
  const path = `${dir.path}/s.sock`;
  await using server = serveRaw(
    path,
    (request) =>
      request.startsWith("GET /chunked")
        ? 'HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{"a"\r\n6;x=y\r\n:"é"}\r\n0\r\n\r\n'
        : ok(JSON.stringify({ echo: request.split("\r\n\r\n")[1] })),
  );
  const pool = new UnixHttpPool(path, "127.0.0.1:7899");
  try {
    const body = JSON.stringify({ text: "héllo" });
    const first = await pool.request(
      "POST",
      "/send",
      json({ authorization: "Bearer s" }),
      body,
      undefined,
    );
    assert.equal(first.status, 200);
    assert.deepEqual(await first.json(), { echo: body });
    const chunked = await pool.request("GET", "/chunked", new Headers(), undefined, undefined);
    assert.equal(chunked.status, 201);
    assert.deepEqual(await chunked.json(), { a: "é" });
    for (let i = 0; i < 5; i++) {
      await (await pool.request("POST", "/x", json(), "{}", undefined)).json();
    }
    assert.equal(server.accepted(), 1, "one connection for every call");
    const head = server.requests[0]!.split("\r\n");
    assert.equal(head[0], "POST /send HTTP/1.1");
    assert.ok(head.includes("host: 127.0.0.1:7899"));
    assert.ok(head.includes("authorization: Bearer s"));
    assert.ok(head.includes(`content-length: ${encoder.encode(body).byteLength}`));
  } finally {
    pool.close();
  }
});

Deno.test({
  name: "after connection: close or a dropped connection, the next call opens a new one",
  ignore: Deno.build.os === "windows",
}, async () => {
  await using dir = await createTempDir("unix-http-");
  const path = `${dir.path}/s.sock`;
  let count = 0;
  await using server = serveRaw(path, () => ok("{}", ++count === 1 ? "connection: close\r\n" : ""));
  const pool = new UnixHttpPool(path, "127.0.0.1:7899");
  try {
    await (await pool.request("GET", "/a", new Headers(), undefined, undefined)).json();
    await (await pool.request("GET", "/b", new Headers(), undefined, undefined)).json();
    assert.equal(server.accepted(), 2, "a new connection after connection: close");
    server.dropAll();
    // The kept connection is gone: that call fails, and the next one connects again.
    await pool.request("GET", "/c", new Headers(), undefined, undefined).then(
      (reply) => reply.json(),
      (error) => assert.ok(error instanceof TypeError, String(error)),
    );
    await (await pool.request("GET", "/d", new Headers(), undefined, undefined)).json();
    assert.equal(server.accepted(), 3);
  } finally {
    pool.close();
  }
});

Deno.test({
  name: "a reply that never comes fails at the deadline with its reason, and its connection goes",
  ignore: Deno.build.os === "windows",
}, async () => {
  await using dir = await createTempDir("unix-http-");
  const path = `${dir.path}/s.sock`;
  await using server = serveRaw(
    path,
    (request) => request.startsWith("GET /never") ? null : ok("{}"),
  );
  const pool = new UnixHttpPool(path, "127.0.0.1:7899");
  try {
    await assert.rejects(
      pool.request("GET", "/never", new Headers(), undefined, AbortSignal.timeout(100)),
      (error) => error instanceof DOMException && error.name === "TimeoutError",
    );
    await (await pool.request("GET", "/after", new Headers(), undefined, undefined)).json();
    assert.equal(server.accepted(), 2, "the stuck connection was not reused");
  } finally {
    pool.close();
  }
  await assert.rejects(
    pool.request("GET", "/closed", new Headers(), undefined, undefined),
    /closed/,
  );
});

Deno.test({
  name: "Deno.serve's replies, sized and streamed, read whole on one connection",
  ignore: Deno.build.os === "windows",
}, async () => {
  await using dir = await createTempDir("unix-http-");
  const path = `${dir.path}/s.sock`;
  const server = Deno.serve({ path, onListen() {} }, async (request) => {
    const text = await request.text();
    if (new URL(request.url).pathname === "/stream") {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode('{"parts":'));
          controller.enqueue(encoder.encode('["a","b"]}'));
          controller.close();
        },
      });
      return new Response(body, { headers: { "content-type": "application/json" } });
    }
    return Response.json({ got: text, host: request.headers.get("host") }, { status: 409 });
  });
  const pool = new UnixHttpPool(path, "127.0.0.1:7899");
  try {
    const sized = await pool.request("POST", "/x", json(), '{"k":1}', undefined);
    assert.equal(sized.status, 409);
    assert.deepEqual(await sized.json(), { got: '{"k":1}', host: "127.0.0.1:7899" });
    const streamed = await pool.request("GET", "/stream", new Headers(), undefined, undefined);
    assert.deepEqual(await streamed.json(), { parts: ["a", "b"] });
  } finally {
    pool.close();
    await server.shutdown();
  }
});
