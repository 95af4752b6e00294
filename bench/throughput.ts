/**
 * Throughput and integrity: several senders to one receiver as fast as they go, each sender's
 * calls in sequence; counts lost, duplicated and out-of-order messages at the receiver.
 *
 * @module
 */
import { closeAll, createTestEnv, spawnPeers } from "./harness.ts";
import { waitFor } from "../tests/_helpers.ts";

/** Result of the throughput scenario. */
export interface ThroughputResult {
  senders: number;
  messages: number;
  messagesPerSecond: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
}

/** Sends `perSender` messages from each of `senders` peers to one receiver. */
export async function measureThroughput(
  senders: number,
  perSender: number,
): Promise<ThroughputResult> {
  const testEnv = await createTestEnv();
  const peers = await spawnPeers(testEnv, senders + 1);
  try {
    const receiver = peers[0]!;
    const receiverId = await receiver.id();
    const total = senders * perSender;
    const start = performance.now();
    await Promise.all(
      peers.slice(1).map(async (sender, index) => {
        for (let seq = 0; seq < perSender; seq++) {
          await sender.call("send_message", { to_id: receiverId, message: `${index} ${seq}` });
        }
      }),
    );
    await waitFor(() => receiver.channel.length >= total, 60_000, "every message").catch(() => {});
    const elapsed = performance.now() - start;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const seen = new Set<string>();
    const last = new Map<string, number>();
    let duplicated = 0;
    let outOfOrder = 0;
    for (const { content } of receiver.channel) {
      if (seen.has(content)) duplicated++;
      seen.add(content);
      const [sender, seq] = content.split(" ") as [string, string];
      if ((last.get(sender) ?? -1) >= Number(seq)) outOfOrder++;
      last.set(sender, Number(seq));
    }
    return {
      senders,
      messages: total,
      messagesPerSecond: (receiver.channel.length / elapsed) * 1000,
      lost: total - seen.size,
      duplicated,
      outOfOrder,
    };
  } finally {
    await closeAll(peers);
    await testEnv.cleanup();
  }
}
