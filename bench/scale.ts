/**
 * Scale: with N registered peers, list_peers latency, broker memory, and the CPU used by the
 * broker plus every MCP server over an idle window.
 *
 * @module
 */
import { type Distribution, distribution } from "./stats.ts";
import { cpuPercentDuring, residentMb } from "./process_stats.ts";
import { brokerPid, closeAll, createTestEnv, type McpPeer, sleep, spawnPeers } from "./harness.ts";

/** Figures at one peer count. */
export interface ScalePoint {
  peers: number;
  listPeersMs: Distribution;
  brokerRssMb: number;
  /** Over the idle window that starts 0.5 s after the last server started. */
  idleCpuPercent: number;
  /** Over the window after that one: once start-up's garbage collections are over. */
  settledIdleCpuPercent: number;
}

/** Measures at each of `counts` (ascending), adding peers between points. */
export async function measureScale(
  counts: number[],
  listCalls: number,
  idleMs: number,
): Promise<ScalePoint[]> {
  const testEnv = await createTestEnv();
  const peers: McpPeer[] = [];
  const points: ScalePoint[] = [];
  try {
    for (const count of counts) {
      peers.push(...await spawnPeers(testEnv, count - peers.length));
      const pid = await brokerPid(testEnv);
      const samples: number[] = [];
      for (let i = 0; i < listCalls; i++) {
        const start = performance.now();
        await peers[0]!.call("list_peers", { scope: "machine" });
        samples.push(performance.now() - start);
      }
      await sleep(500);
      const pids = [pid, ...peers.map((peer) => peer.pid())];
      const idleCpuPercent = await cpuPercentDuring(pids, () => sleep(idleMs));
      const settledIdleCpuPercent = await cpuPercentDuring(pids, () => sleep(idleMs));
      points.push({
        peers: count,
        listPeersMs: distribution(samples),
        brokerRssMb: await residentMb(pid),
        idleCpuPercent,
        settledIdleCpuPercent,
      });
    }
    return points;
  } finally {
    await closeAll(peers);
    await testEnv.cleanup();
  }
}
