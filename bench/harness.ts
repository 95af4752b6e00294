/**
 * Shared set-up for the scenarios: a temp environment with channel mode on, MCP servers,
 * the broker's pid, and waiting for one channel notification.
 *
 * @module
 */
import {
  createTestEnv,
  type McpPeer,
  type ReceivedChannel,
  spawnMcp,
  type TestEnv,
} from "../tests/_helpers.ts";

export { createTestEnv, type McpPeer, spawnMcp, type TestEnv };

/** The pid of the broker answering for `testEnv`. */
export async function brokerPid(testEnv: TestEnv): Promise<number> {
  return (await testEnv.client().status()).pid;
}

/** Resolves with the first notification at `peer` whose content is `content`. */
export function nextChannel(
  peer: McpPeer,
  content: string,
  timeoutMs = 30_000,
): Promise<ReceivedChannel> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      peer.onChannel = undefined;
      reject(new Error(`no channel notification "${content}" within ${timeoutMs} ms`));
    }, timeoutMs);
    peer.onChannel = (notification) => {
      if (notification.content !== content) return;
      clearTimeout(timer);
      peer.onChannel = undefined;
      resolve(notification);
    };
  });
}

/** Spawns `count` MCP servers, `batch` at a time, and waits until each is registered. */
export async function spawnPeers(testEnv: TestEnv, count: number, batch = 10): Promise<McpPeer[]> {
  const peers: McpPeer[] = [];
  while (peers.length < count) {
    const size = Math.min(batch, count - peers.length);
    const spawned = await Promise.all(Array.from({ length: size }, () => spawnMcp(testEnv)));
    await Promise.all(spawned.map((peer) => peer.id()));
    peers.push(...spawned);
  }
  return peers;
}

/** Closes every peer. */
export async function closeAll(peers: McpPeer[]): Promise<void> {
  await Promise.all(peers.map((peer) => peer.close()));
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
