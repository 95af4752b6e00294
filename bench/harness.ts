/**
 * Shared set-up for the scenarios, on the tests' own fixtures (tests/_helpers.ts): a temp
 * environment with channel mode on, MCP servers, the broker's pid, and waiting for one channel
 * notification. Nothing here starts or stops a process by itself.
 *
 * @module
 */
import {
  closeAll,
  createTestEnv,
  type McpPeer,
  type ReceivedChannel,
  spawnAll,
  spawnMcp,
  type TestEnv,
} from "../tests/_helpers.ts";

export { closeAll, createTestEnv, type McpPeer, spawnMcp, type TestEnv };

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
  const peers = await spawnAll(testEnv, count, { batch });
  try {
    await Promise.all(peers.map((peer) => peer.id()));
  } catch (error) {
    await closeAll(peers).catch(() => {});
    throw error;
  }
  return peers;
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
