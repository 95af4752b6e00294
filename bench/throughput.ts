/**
 * Throughput and integrity: several senders to one receiver as fast as they go; counts lost,
 * duplicated and out-of-order messages at the receiver.
 *
 * @module
 */
import { brokerPid, closeAll, createTestEnv, spawnPeers } from "./harness.ts";
import { cpuTimeMs } from "./process_stats.ts";
import { waitFor } from "../tests/_helpers.ts";

/** CPU time per delivered message, in ms, of each kind of process in a run. */
export interface CpuPerMessage {
  broker: number;
  /** All senders together. */
  senders: number;
  receiver: number;
  /** This process: the SDK clients that drive the servers. */
  client: number;
}

/** Result of the throughput scenario. */
export interface ThroughputResult {
  senders: number;
  /** Calls each sender keeps in flight. */
  window: number;
  messages: number;
  messagesPerSecond: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  cpuPerMessageMs: CpuPerMessage;
}

/**
 * Sends `perSender` messages from each of `senders` peers to one receiver. Each sender keeps
 * `window` calls in flight (1: one at a time); its messages are numbered in the order it
 * issued the calls, and that is the order the receiver must see.
 */
export async function measureThroughput(
  senders: number,
  perSender: number,
  window = 1,
): Promise<ThroughputResult> {
  const testEnv = await createTestEnv();
  const peers = await spawnPeers(testEnv, senders + 1);
  try {
    const receiver = peers[0]!;
    const receiverId = await receiver.id();
    const total = senders * perSender;
    const pids = [await brokerPid(testEnv), ...peers.map((peer) => peer.pid()), Deno.pid];
    const cpuBefore = await Promise.all(pids.map(cpuTimeMs));
    const start = performance.now();
    await Promise.all(
      peers.slice(1).map(async (sender, index) => {
        let next = 0;
        const lane = async () => {
          while (next < perSender) {
            const seq = next++;
            const result = await sender.call("send_message", {
              to_id: receiverId,
              message: `${index} ${seq}`,
            });
            if (result.isError) throw new Error(result.text);
          }
        };
        await Promise.all(Array.from({ length: window }, lane));
      }),
    );
    await waitFor(() => receiver.channel.length >= total, 60_000, "every message").catch(() => {});
    const elapsed = performance.now() - start;
    const cpuAfter = await Promise.all(pids.map(cpuTimeMs));
    const perMessage = (from: number, to = from + 1) => {
      let used = 0;
      for (let index = from; index < to; index++) used += cpuAfter[index]! - cpuBefore[index]!;
      return used / Math.max(receiver.channel.length, 1);
    };
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
      window,
      messages: total,
      messagesPerSecond: (receiver.channel.length / elapsed) * 1000,
      lost: total - seen.size,
      duplicated,
      outOfOrder,
      cpuPerMessageMs: {
        broker: perMessage(0),
        receiver: perMessage(1),
        senders: perMessage(2, 2 + senders),
        client: perMessage(2 + senders),
      },
    };
  } finally {
    await closeAll(peers);
    await testEnv.cleanup();
  }
}
