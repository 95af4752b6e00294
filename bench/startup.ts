/**
 * Start-up: spawn to tools/list answered, and spawn to visible in another peer's list_peers,
 * for the first server (which also starts the broker) and for later ones; for later ones also
 * spawn to initialize answered, which tells loading (before it) from the handshake (after).
 *
 * @module
 */
import { median } from "./stats.ts";
import { closeAll, createTestEnv, type McpPeer, spawnMcp } from "./harness.ts";
import { waitFor } from "../tests/_helpers.ts";

/** Start-up times in ms. */
export interface StartupResult {
  firstToolsListMs: number;
  firstVisibleMs: number;
  laterToolsListMs: number;
  laterVisibleMs: number;
  /** Spawn to the initialize reply (the MCP client connected), median of the later servers. */
  laterInitializeMs: number;
  laterSamples: number;
}

async function startOne(
  observe: (pid: number) => Promise<boolean>,
  testEnv: Awaited<ReturnType<typeof createTestEnv>>,
) {
  const start = performance.now();
  const peer = await spawnMcp(testEnv);
  const initialize = performance.now() - start;
  await peer.client.listTools();
  const toolsList = performance.now() - start;
  await waitFor(() => observe(peer.pid()), 30_000, "the new peer to be listed");
  return { peer, initialize, toolsList, visible: performance.now() - start };
}

/** Measures the first server and `later` later ones. */
export async function measureStartup(later: number): Promise<StartupResult> {
  const testEnv = await createTestEnv();
  const peers: McpPeer[] = [];
  try {
    const viaBroker = async (pid: number) => {
      try {
        return (await testEnv.client().listPeers("machine")).peers.some((peer) => peer.pid === pid);
      } catch {
        return false;
      }
    };
    const first = await startOne(viaBroker, testEnv);
    peers.push(first.peer);
    const observer = first.peer;
    const viaObserver = async (pid: number) =>
      (await observer.call("list_peers", { scope: "machine" })).text.includes(`pid ${pid},`);
    const initialize: number[] = [];
    const toolsList: number[] = [];
    const visible: number[] = [];
    for (let i = 0; i < later; i++) {
      const next = await startOne(viaObserver, testEnv);
      peers.push(next.peer);
      initialize.push(next.initialize);
      toolsList.push(next.toolsList);
      visible.push(next.visible);
    }
    return {
      firstToolsListMs: first.toolsList,
      firstVisibleMs: first.visible,
      laterToolsListMs: median(toolsList),
      laterVisibleMs: median(visible),
      laterInitializeMs: median(initialize),
      laterSamples: later,
    };
  } finally {
    await closeAll(peers);
    await testEnv.cleanup();
  }
}
