/**
 * A flood from one sender must not make the broker unresponsive to others.
 *
 * @module
 */
import assert from "node:assert/strict";
import { MAX_MESSAGE_BYTES, MAX_QUEUED_PER_PEER } from "../broker/protocol.ts";
import { BrokerError } from "../broker/client.ts";
import { createTestEnv, startBroker } from "./_helpers.ts";

Deno.test("a flood of large messages from one sender leaves the broker responsive to others", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  const flooder = testEnv.client();
  const victim = testEnv.client();
  const bystander = testEnv.client();
  const registration = { pid: Deno.pid, cwd: testEnv.dir, git_root: null, repo: null, tty: null };
  await flooder.register(registration);
  const { peer_id: victimId } = await victim.register(registration);
  await bystander.register(registration);
  const text = "x".repeat(MAX_MESSAGE_BYTES);
  let accepted = 0;
  let refused = 0;
  const stopAt = Date.now() + 4_000;
  const floods = Array.from({ length: 8 }, async () => {
    while (Date.now() < stopAt) {
      try {
        await flooder.send({ to_id: victimId, text });
        accepted++;
      } catch (error) {
        if (!(error instanceof BrokerError) || error.status !== 429) throw error;
        refused++;
      }
    }
  });
  const latencies: number[] = [];
  const probe = (async () => {
    while (Date.now() < stopAt) {
      const start = performance.now();
      await bystander.listPeers("machine");
      latencies.push(performance.now() - start);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  await Promise.all([...floods, probe]);
  assert.ok(
    accepted <= MAX_QUEUED_PER_PEER,
    `at most ${MAX_QUEUED_PER_PEER} queued, got ${accepted}`,
  );
  assert.ok(refused > 0, "the queue limit refused further messages");
  assert.ok(latencies.length > 10, "the bystander was answered throughout");
  const worst = Math.max(...latencies);
  assert.ok(worst < 2_000, `a bystander's request took ${worst.toFixed(0)} ms during the flood`);
  assert.equal((await victim.inbox()).messages.length, accepted);
});
