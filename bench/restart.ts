/**
 * Broker restart: time from SIGKILL of the broker until a message sent afterwards is
 * delivered (the MCP servers start the next broker by themselves).
 *
 * @module
 */
import { median } from "./stats.ts";
import { brokerPid, closeAll, createTestEnv, nextChannel, spawnPeers } from "./harness.ts";

/** Median and each sample of the kill-to-delivery time, in ms. */
export interface RestartResult {
  medianMs: number;
  samplesMs: number[];
}

/** Kills the broker `rounds` times. */
export async function measureRestart(rounds: number): Promise<RestartResult> {
  const testEnv = await createTestEnv();
  const peers = await spawnPeers(testEnv, 2);
  try {
    const [alice, bob] = peers as [typeof peers[0], typeof peers[0]];
    const bobId = await bob.id();
    const samples: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const pid = await brokerPid(testEnv);
      const text = `after restart ${round}`;
      const arrived = nextChannel(bob, text);
      const start = performance.now();
      Deno.kill(pid, "SIGKILL");
      await alice.call("send_message", { to_id: bobId, message: text });
      await arrived;
      samples.push(performance.now() - start);
    }
    return { medianMs: median(samples), samplesMs: samples };
  } finally {
    await closeAll(peers);
    await testEnv.cleanup();
  }
}
