/**
 * Delivery latency: A calls send_message to B; measured from the call to B's channel
 * notification arriving.
 *
 * @module
 */
import { type Distribution, distribution } from "./stats.ts";
import { closeAll, createTestEnv, nextChannel, sleep, spawnPeers } from "./harness.ts";

/** Latency of `count` messages sent with random 0–20 ms gaps, in ms. */
export async function measureLatency(count: number): Promise<Distribution> {
  const testEnv = await createTestEnv();
  const peers = await spawnPeers(testEnv, 2);
  try {
    const [alice, bob] = peers as [typeof peers[0], typeof peers[0]];
    const bobId = await bob.id();
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const text = `latency ${i}`;
      const arrived = nextChannel(bob, text);
      const start = performance.now();
      await alice.call("send_message", { to_id: bobId, message: text });
      await arrived;
      samples.push(performance.now() - start);
      await sleep(Math.random() * 20);
    }
    return distribution(samples);
  } finally {
    await closeAll(peers);
    await testEnv.cleanup();
  }
}
