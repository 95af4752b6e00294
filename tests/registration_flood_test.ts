/**
 * A flood of registrations that all expire leaves the broker as it was: the registry drops
 * expired peers from its in-memory copy, so the real broker's heap comes back near where it
 * started. The heap, not RSS: V8 seldom hands freed pages back to the system, so RSS says how
 * high the heap once was, not what the broker still holds.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type BrokerClient, BrokerError, BrokerUnavailableError } from "../broker/client.ts";
import { createTestEnv, startBroker, waitFor } from "./_helpers.ts";

const REGISTRATIONS = 20_000;
const CLIENTS = 8;
const MARGIN_MB = 20;

/** Large fields, as a hostile flood would send them: what the broker keeps of each shows. */
function hostileFields(dir: string) {
  const path = `${dir}/${"d".repeat(1024)}`;
  return { cwd: path, git_root: path, repo: "r".repeat(512), summary: "s".repeat(500) };
}

async function registerMany(clients: BrokerClient[], count: number, dir: string): Promise<number> {
  const fields = hostileFields(dir);
  let started = 0;
  let done = 0;
  await Promise.all(clients.map(async (client) => {
    while (started < count) {
      started++;
      let timedOut = false;
      for (;;) {
        try {
          await client.register({
            pid: Deno.pid,
            ...fields,
            tty: null,
            claude_session_id: crypto.randomUUID(),
          });
          done++;
          break;
        } catch (error) {
          // A call that ran past its 5 s deadline on a starved machine (seen under the full
          // suite's parallel load) is asked again, once per registration: this test is about
          // what the heap keeps, not about latency.
          if (error instanceof BrokerUnavailableError && !timedOut) {
            timedOut = true;
            continue;
          }
          // Live peers are capped: wait for the oldest leases to run out.
          if (!(error instanceof BrokerError) || error.code !== "too_many_peers") throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    }
  }));
  return done;
}

function heapMb(status: { heap_used: number }): number {
  return status.heap_used / 1024 / 1024;
}

/**
 * The broker's heap after a round of allocation pressure. V8 collects its old generation only
 * under pressure: refused oversized sends supply it, so the figure is what the broker retains,
 * not garbage it has not collected yet.
 */
async function heapUnderPressure(client: BrokerClient): Promise<number> {
  const oversized = { to_id: "zzzzzzzz", text: "x".repeat(200_000) };
  await Promise.all(Array.from({ length: 4 }, () => client.send(oversized).catch(() => {})));
  return heapMb(await client.status());
}

Deno.test("20,000 registrations that expire leave the broker's heap near where it started", async () => {
  await using testEnv = await createTestEnv({ CLAUDE_PEERS_LEASE_MS: "1000" });
  await using _broker = await startBroker(testEnv);
  const clients = Array.from({ length: CLIENTS }, () => testEnv.client());
  const observer = testEnv.client();
  // Warm up (compiled code, caches), then take the baseline once those peers are gone.
  await registerMany(clients, 500, testEnv.dir);
  await waitFor(async () => (await observer.status()).peer_count === 0, 10_000, "no live peers");
  let baseline = Infinity;
  for (let round = 0; round < 20; round++) {
    baseline = Math.min(baseline, await heapUnderPressure(observer));
  }

  assert.equal(await registerMany(clients, REGISTRATIONS, testEnv.dir), REGISTRATIONS);
  const peak = heapMb(await observer.status());
  await waitFor(async () => (await observer.status()).peer_count === 0, 10_000, "no live peers");
  let last = peak;
  await waitFor(
    async () => (last = await heapUnderPressure(observer)) <= baseline + MARGIN_MB,
    30_000,
    `the heap back within ${MARGIN_MB} MB of ${baseline.toFixed(0)} MB`,
  ).catch((error) => {
    throw new Error(`${error.message}: it stayed at ${last.toFixed(0)} MB`);
  });
});
