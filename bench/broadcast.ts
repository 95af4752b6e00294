/**
 * Broadcast fan-out: one session sends to `@directory` with N other sessions there; measured
 * from the send_message call to the last copy's channel notification. Each round has another
 * sender, so the per-sender broadcast cap never applies.
 *
 * @module
 */
import { median } from "./stats.ts";
import { closeAll, createTestEnv, nextChannel, spawnPeers } from "./harness.ts";

/** Time until the last of `recipients` copies is shown, per round, and in the median. */
export interface BroadcastResult {
  recipients: number;
  medianMs: number;
  samplesMs: number[];
  /** Until the first copy is shown, median. */
  firstMedianMs: number;
}

/** Broadcasts `rounds` times (each from another session) to `recipients` others. */
export async function measureBroadcast(
  recipients: number,
  rounds: number,
): Promise<BroadcastResult> {
  const testEnv = await createTestEnv();
  const peers = await spawnPeers(testEnv, recipients + 1);
  try {
    const samples: number[] = [];
    const firsts: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const sender = peers[round % peers.length]!;
      const others = peers.filter((peer) => peer !== sender);
      const text = `broadcast ${round}`;
      let first = Infinity;
      const arrived = others.map((peer) =>
        nextChannel(peer, text).then(() => first = Math.min(first, performance.now()))
      );
      const start = performance.now();
      const sent = await sender.call("send_message", { to_id: "@directory", message: text });
      if (sent.isError) throw new Error(`the broadcast failed: ${sent.text}`);
      await Promise.all(arrived);
      samples.push(performance.now() - start);
      firsts.push(first - start);
    }
    return {
      recipients,
      medianMs: median(samples),
      samplesMs: samples,
      firstMedianMs: median(firsts),
    };
  } finally {
    await closeAll(peers);
    await testEnv.cleanup();
  }
}
