/**
 * The broker's HTTP API under bad and hostile requests: each refused with a clear status and
 * `{error}`, and nothing changed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { MAX_BODY_BYTES, MAX_MESSAGE_BYTES } from "../broker/protocol.ts";
import {
  createTestEnv,
  ON_WINDOWS,
  posixTestName,
  runCli,
  startBroker,
  type TestEnv,
} from "./_helpers.ts";

interface Snapshot {
  peers: string;
  inbox: string;
}

async function snapshot(testEnv: TestEnv, session: string): Promise<Snapshot> {
  const client = testEnv.client();
  const peers = JSON.stringify(
    (await client.listPeers("machine")).peers.map((p) => [p.id, p.summary]),
  );
  client.session = session;
  const inbox = JSON.stringify((await client.inbox()).messages);
  return { peers, inbox };
}

/** Sends raw HTTP/1.1 so the test controls every header, Host included. */
async function rawRequest(port: number, head: string, body = ""): Promise<number> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = new TextEncoder().encode(body);
    await connection.write(
      new TextEncoder().encode(
        `${head}\r\nContent-Length: ${bytes.byteLength}\r\nConnection: close\r\n\r\n`,
      ),
    );
    await connection.write(bytes);
    const reply = await new Response(connection.readable).text();
    return Number(reply.split(" ")[1]);
  } finally {
    try {
      connection.close();
    } catch { /* closed by reading to the end */ }
  }
}

Deno.test("bad requests get a clear 4xx and change nothing", async (t) => {
  const testEnv = await createTestEnv();
  const broker = await startBroker(testEnv);
  try {
    const secret = (await Deno.readTextFile(`${testEnv.dbPath}.d/secret`)).trim();
    const registration = { pid: Deno.pid, cwd: testEnv.dir, git_root: null, repo: null, tty: null };
    const alice = testEnv.client();
    const bob = testEnv.client();
    await alice.register(registration);
    const { peer_id: bobId, session: bobSession } = await bob.register({
      ...registration,
      summary: "bob",
    });
    await alice.send({ to_id: bobId, text: "queued before the abuse" });
    const before = await snapshot(testEnv, bobSession);
    const url = `http://127.0.0.1:${testEnv.port}`;
    const post = (path: string, body: BodyInit, headers: Record<string, string> = {}) =>
      fetch(`${url}${path}`, {
        method: "POST",
        body,
        headers: {
          authorization: `Bearer ${secret}`,
          "content-type": "application/json",
          ...headers,
        },
      });
    const expectError = async (response: Response, status: number, pattern: RegExp) => {
      const body = await response.json();
      assert.equal(response.status, status, JSON.stringify(body));
      assert.equal(typeof body.error, "string");
      assert.match(body.error, pattern);
    };

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
      const wrong = await fetch(`${url}/send`, { headers: { authorization: `Bearer ${secret}` } });
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
    await t.step("an oversize body is a 413", async () => {
      await expectError(await post("/send", "x".repeat(MAX_BODY_BYTES + 1)), 413, /exceeds/);
    });
    await t.step("a missing or wrong secret is a 401", async () => {
      const none = await fetch(`${url}/peers`, {
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
      const body = JSON.stringify({ to_id: bobId, text: "rebound" });
      const head = `POST /send HTTP/1.1\r\nHost: evil.example:${testEnv.port}\r\n` +
        `Authorization: Bearer ${secret}\r\nContent-Type: application/json`;
      assert.equal(await rawRequest(testEnv.port, head, body), 403);
    });
    await t.step("a peer session cannot act on another peer's inbox", async () => {
      const aliceSession = { "x-claude-peers-session": alice.session! };
      const [message] = JSON.parse(before.inbox) as { id: string }[];
      const acked = await post("/ack", JSON.stringify({ ids: [message!.id] }), aliceSession);
      assert.deepEqual(await acked.json(), { removed: 0 });
      await expectError(
        await post("/inbox", "{}", { "x-claude-peers-session": "forged" }),
        401,
        /session/,
      );
      await post("/summary", JSON.stringify({ summary: "hijacked" }), aliceSession);
      const peers = (await alice.listPeers("machine")).peers;
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
      const aliceSession = { "x-claude-peers-session": alice.session! };
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
      const health = await fetch(`${url}/health`);
      assert.deepEqual(Object.keys(await health.json()).sort(), ["service", "version"]);
    });
    await post("/summary", JSON.stringify({ summary: "alice" }), {
      "x-claude-peers-session": alice.session!,
    });
    const after = await snapshot(testEnv, bobSession);
    assert.equal(after.inbox, before.inbox, "bob's queued messages are untouched");
    const bobAfter = (JSON.parse(after.peers) as string[][]).find(([id]) => id === bobId);
    assert.deepEqual(bobAfter, [bobId, "bob"]);
  } finally {
    await broker.kill();
    await testEnv.cleanup();
  }
});

Deno.test({
  name: posixTestName(
    "the secret, database and log are readable by their owner only",
    "no POSIX file modes",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    const testEnv = await createTestEnv();
    try {
      const peers = await runCli(testEnv, ["peers"]);
      assert.equal(peers.code, 0, peers.stderr);
      const mode = async (path: string) => ((await Deno.stat(path)).mode ?? 0) & 0o777;
      assert.equal(await mode(`${testEnv.dbPath}.d`), 0o700);
      assert.equal(await mode(`${testEnv.dbPath}.d/secret`), 0o600);
      assert.equal(await mode(`${testEnv.dbPath}.d/broker.log`), 0o600);
      assert.equal(await mode(testEnv.dbPath), 0o600);
      const log = await Deno.readTextFile(`${testEnv.dbPath}.d/broker.log`);
      const secret = (await Deno.readTextFile(`${testEnv.dbPath}.d/secret`)).trim();
      assert.equal(secret.length, 64);
      assert.ok(!log.includes(secret), "the secret is never logged");
    } finally {
      await testEnv.cleanup();
    }
  },
});
