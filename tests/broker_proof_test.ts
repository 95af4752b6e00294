/**
 * A client proves the broker again whenever it may have changed: after the push stream ended
 * (a SIGKILL ends it cleanly), after a failed call, and after a pause; within a burst it does
 * not. The program that takes the port here is a listener in the test process (any user's
 * program looks the same to the client; impostor_test.ts runs one as another OS user).
 *
 * @module
 */
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { createTestEnv, ON_WINDOWS, posixTestName, startBroker, waitFor } from "./_helpers.ts";
import { BrokerError } from "../broker/client.ts";
import { PROOF_FRESH_MS } from "../broker/broker_proof.ts";

/** A listener that answers like a broker that cannot prove itself, recording every request. */
interface Squatter extends AsyncDisposable {
  requests: { url: string; headers: Record<string, string> }[];
}

/** Binds `port` as soon as it is free (bounded), like a squatter waiting for a crash. */
async function squat(port: number): Promise<Squatter> {
  const requests: Squatter["requests"] = [];
  let server: Deno.HttpServer | undefined;
  await waitFor(
    () => {
      try {
        server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, (request) => {
          requests.push({ url: request.url, headers: Object.fromEntries(request.headers) });
          return Response.json({ service: "claude-peers", version: "0.1.0", proof: "0" });
        });
        return true;
      } catch (error) {
        if (error instanceof Deno.errors.AddrInUse) return false;
        throw error;
      }
    },
    5_000,
    "the port to be free",
  );
  return {
    requests,
    async [Symbol.asyncDispose]() {
      await server?.shutdown();
    },
  };
}

function assertNoCredential(squatter: Squatter): void {
  for (const { url, headers } of squatter.requests) {
    assert.match(url, /\/health\?challenge=/, `only a challenge reached the squatter: ${url}`);
    assert.equal(headers.authorization, undefined, `a credential reached the squatter: ${url}`);
  }
}

async function refusal(call: Promise<unknown>): Promise<string> {
  const error = await call.then(() => null, (error) => error);
  assert.ok(error instanceof BrokerError, `the call failed with a BrokerError: ${error}`);
  return error.code;
}

Deno.test({
  name: posixTestName("a pause after the broker's last reply means proving it again"),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv();
    await using broker = await startBroker(testEnv);
    const client = testEnv.client();
    await client.listPeers("machine");
    await broker.kill("SIGKILL");
    await using squatter = await squat(testEnv.port);
    // The pause is the condition under test: no call failed meanwhile, nothing else says the
    // broker went.
    await delay(PROOF_FRESH_MS + 100);
    assert.equal(await refusal(client.listPeers("machine")), "impostor");
    assert.equal(squatter.requests.length, 1);
    assertNoCredential(squatter);
  },
});

Deno.test({
  name: posixTestName("an ended push stream means proving the broker again, at once"),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv();
    await using broker = await startBroker(testEnv);
    const client = testEnv.client();
    await client.register({
      pid: Deno.pid,
      cwd: testEnv.dir,
      git_root: null,
      repo: null,
      tty: null,
    });
    const abort = new AbortController();
    const events = client.stream(abort.signal);
    assert.equal((await events.next()).value?.type, "hello");
    const ended = (async () => {
      try {
        for await (const _ of events) { /* until the broker goes */ }
      } catch { /* a reset connection ends it too */ }
    })();
    await broker.kill("SIGKILL");
    await ended;
    await using squatter = await squat(testEnv.port);
    assert.equal(await refusal(client.listPeers("machine")), "impostor");
    assertNoCredential(squatter);
    abort.abort();
  },
});

Deno.test("calls in a burst cost one proof", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  const client = testEnv.client();
  let proofs = 0;
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    if (String(input).includes("/health?challenge=")) proofs++;
    return realFetch(input, init);
  };
  try {
    await Promise.all([client.listPeers("machine"), client.status(), client.listPeers("machine")]);
    for (let i = 0; i < 10; i++) await client.status();
  } finally {
    globalThis.fetch = realFetch;
  }
  assert.equal(proofs, 1);
});
