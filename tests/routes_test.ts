/**
 * The broker's request handler, in-process on an in-memory KV: bad and hostile requests are
 * each refused with a clear status and `{error}`, and nothing changes. No process, no socket.
 *
 * @module
 */
import assert from "node:assert/strict";
import { MAX_BODY_BYTES, MAX_MESSAGE_BYTES } from "../broker/protocol.ts";
import { createInProcessBroker, type InProcessBroker } from "./_fixtures/in_process.ts";

interface Registered {
  peer_id: string;
  session: string;
}

interface Snapshot {
  peers: string;
  inbox: string;
}

async function snapshot(broker: InProcessBroker, session: string): Promise<Snapshot> {
  const { peers } = await broker.call("POST", "/peers", { scope: "machine" }) as {
    peers: { id: string; summary: string }[];
  };
  const { messages } = await broker.call("POST", "/inbox", {}, session) as { messages: unknown };
  return {
    peers: JSON.stringify(peers.map((p) => [p.id, p.summary])),
    inbox: JSON.stringify(messages),
  };
}

async function expectError(response: Response, status: number, pattern: RegExp): Promise<void> {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(typeof body.error, "string");
  assert.match(body.error, pattern);
}

Deno.test("bad requests get a clear 4xx and change nothing", async (t) => {
  await using broker = await createInProcessBroker();
  const { secret } = broker;
  const registration = { pid: Deno.pid, cwd: "/work", git_root: null, repo: null, tty: null };
  const alice = await broker.call("POST", "/register", registration) as Registered;
  const { peer_id: bobId, session: bobSession } = await broker.call("POST", "/register", {
    ...registration,
    summary: "bob",
  }) as Registered;
  await broker.call(
    "POST",
    "/send",
    { to_id: bobId, text: "queued before the abuse" },
    alice.session,
  );
  const before = await snapshot(broker, bobSession);
  const post = (path: string, body: BodyInit, headers: Record<string, string> = {}) =>
    broker.fetch(path, {
      method: "POST",
      body,
      headers: {
        authorization: `Bearer ${secret}`,
        "content-type": "application/json",
        ...headers,
      },
    });

  await t.step("malformed JSON is a 400", async () => {
    await expectError(await post("/send", "{not json"), 400, /Malformed JSON/);
  });
  await t.step("wrong types are a 400 naming the field", async () => {
    await expectError(
      await post("/send", JSON.stringify({ to_id: 42, text: "x" })),
      400,
      /"to_id"/,
    );
    await expectError(
      await post("/register", JSON.stringify({ ...registration, pid: "1" })),
      400,
      /"pid"/,
    );
    await expectError(await post("/peers", JSON.stringify({ scope: "galaxy" })), 400, /"scope"/);
  });
  await t.step("unknown fields are refused, so no body can claim a sender", async () => {
    const forged = JSON.stringify({ to_id: bobId, text: "x", from_id: "someone" });
    await expectError(await post("/send", forged), 400, /from_id/);
  });
  await t.step("an unknown endpoint is a 404 and a wrong method a 405", async () => {
    await expectError(await post("/nowhere", "{}"), 404, /No such endpoint/);
    const wrong = await broker.fetch("/send", { headers: { authorization: `Bearer ${secret}` } });
    await expectError(wrong, 405, /not allowed/);
  });
  await t.step("sending to an unknown peer is a 404", async () => {
    await expectError(
      await post("/send", JSON.stringify({ to_id: "zzzzzzzz", text: "x" })),
      404,
      /not registered/,
    );
  });
  await t.step("an oversize message is a 413 that states the limit", async () => {
    const text = "é".repeat(MAX_MESSAGE_BYTES / 2 + 1);
    await expectError(
      await post("/send", JSON.stringify({ to_id: bobId, text })),
      413,
      new RegExp(`limit is ${MAX_MESSAGE_BYTES} bytes`),
    );
  });
  await t.step("an oversize body is a 413, with or without a declared length", async () => {
    await expectError(await post("/send", "x".repeat(MAX_BODY_BYTES + 1)), 413, /exceeds/);
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const undeclared = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > MAX_BODY_BYTES) return controller.close();
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    await expectError(await post("/send", undeclared), 413, /exceeds/);
    assert.ok(sent <= MAX_BODY_BYTES + chunk.byteLength, "reading stopped at the limit");
  });
  await t.step("a body that is not UTF-8 is a 400", async () => {
    await expectError(await post("/send", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 400, /UTF-8/);
  });
  await t.step("a missing or wrong secret is a 401", async () => {
    const none = await broker.fetch("/peers", {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json" },
    });
    await expectError(none, 401, /secret/);
    await expectError(
      await post("/peers", "{}", { authorization: "Bearer nope" }),
      401,
      /secret/,
    );
    await expectError(
      await post("/peers", "{}", { authorization: `Bearer ${"0".repeat(64)}` }),
      401,
      /secret/,
    );
  });
  await t.step("browser-shaped requests are refused", async () => {
    await expectError(
      await post("/send", "{}", { origin: "https://evil.example" }),
      403,
      /Origin/,
    );
    const plain = await post("/send", JSON.stringify({ to_id: bobId, text: "x" }), {
      "content-type": "text/plain",
    });
    await expectError(plain, 415, /application\/json/);
    // Also where the route reads no body: every POST is JSON or refused.
    for (const path of ["/inbox", "/outbox", "/claim", "/wait", "/shutdown"]) {
      await expectError(await post(path, "{}", { "content-type": "text/plain" }), 415, /json/);
    }
    const rebound = await post("/send", JSON.stringify({ to_id: bobId, text: "rebound" }), {
      host: `evil.example:${broker.port}`,
    });
    await expectError(rebound, 403, /Host "evil\.example:\d+" is refused/);
  });
  await t.step("a peer session cannot act on another peer's inbox", async () => {
    const aliceSession = { "x-claude-peers-session": alice.session };
    const [message] = JSON.parse(before.inbox) as { id: string }[];
    const acked = await post("/ack", JSON.stringify({ ids: [message!.id] }), aliceSession);
    assert.deepEqual(await acked.json(), { removed: 0 });
    await expectError(
      await post("/inbox", "{}", { "x-claude-peers-session": "forged" }),
      401,
      /session/,
    );
    await post("/summary", JSON.stringify({ summary: "hijacked" }), aliceSession);
    const { peers } = await broker.call("POST", "/peers", { scope: "machine" }) as {
      peers: { id: string; summary: string }[];
    };
    assert.equal(peers.find((peer) => peer.id === bobId)?.summary, "bob");
    await expectError(
      await post(
        "/send",
        JSON.stringify({ to_id: bobId, text: "x", from_name: "bob" }),
        aliceSession,
      ),
      400,
      /from_name/,
    );
  });
  await t.step("a batch needs a peer session and fails item by item", async () => {
    const batch = (messages: unknown[], headers: Record<string, string> = {}) =>
      post("/send_batch", JSON.stringify({ messages }), headers);
    await expectError(await batch([{ to_id: bobId, text: "x" }]), 401, /session/);
    const aliceSession = { "x-claude-peers-session": alice.session };
    await expectError(await batch([], aliceSession), 400, /"messages"/);
    const mixed = await batch([
      { to_id: "zzzzzzzz", text: "nobody" },
      { to_id: bobId, text: "x".repeat(MAX_MESSAGE_BYTES + 1) },
    ], aliceSession);
    const { results } = await mixed.json();
    assert.equal(mixed.status, 200);
    assert.deepEqual(results.map((r: { ok: boolean; status: number }) => [r.ok, r.status]), [
      [false, 404],
      [false, 413],
    ]);
  });
  await t.step("/health answers without credentials and without peer data", async () => {
    const health = await broker.fetch("/health");
    assert.deepEqual(Object.keys(await health.json()).sort(), ["service", "version"]);
  });
  await t.step("only an authenticated POST /shutdown stops the broker", async () => {
    await expectError(await broker.fetch("/shutdown", { method: "POST" }), 401, /secret/);
    assert.equal(broker.shutdownRequests(), 0);
    assert.deepEqual(await broker.call("POST", "/shutdown", {}), { ok: true });
    assert.equal(broker.shutdownRequests(), 1);
  });
  await post("/summary", JSON.stringify({ summary: "alice" }), {
    "x-claude-peers-session": alice.session,
  });
  const after = await snapshot(broker, bobSession);
  assert.equal(after.inbox, before.inbox, "bob's queued messages are untouched");
  const bobAfter = (JSON.parse(after.peers) as string[][]).find(([id]) => id === bobId);
  assert.deepEqual(bobAfter, [bobId, "bob"]);
});
