/**
 * Memory per session, measured the way issue 11 states it: three `claude-peers mcp` servers
 * driven by the SDK client over stdio (the first starts the broker), four seconds after the
 * last one started; private = Private_Clean + Private_Dirty (shared with no other process).
 * Beside them, the floor: a `deno run` process with the same V8 flags that loads nothing.
 *
 * @module
 */
import { privateMb, residentMb } from "./process_stats.ts";
import { type MemoryFigure, startBareProcess } from "./bare_process.ts";
import { brokerPid, closeAll, createTestEnv, sleep, spawnPeers } from "./harness.ts";
import { median } from "./stats.ts";

export type { MemoryFigure };

/** Memory of the MCP servers and the broker. */
export interface MemoryResult {
  servers: number;
  server: MemoryFigure;
  broker: MemoryFigure;
  /** A `deno run` process that loads nothing, measured beside them; null for a binary. */
  bare: MemoryFigure | null;
}

/** Spawns `servers` MCP servers, waits `settleMs`, reads their and the broker's memory. */
export async function measureMemory(servers = 3, settleMs = 4_000): Promise<MemoryResult> {
  const testEnv = await createTestEnv();
  // The binary's runtime is not `deno run`'s: its floor would be another process's.
  await using bare = testEnv.bin ? undefined : startBareProcess();
  const peers = await spawnPeers(testEnv, servers);
  try {
    await sleep(settleMs);
    const pids = peers.map((peer) => peer.pid());
    const broker = await brokerPid(testEnv);
    return {
      servers,
      server: {
        privateMb: median(await Promise.all(pids.map(privateMb))),
        rssMb: median(await Promise.all(pids.map(residentMb))),
      },
      broker: { privateMb: await privateMb(broker), rssMb: await residentMb(broker) },
      bare: bare ? await bare.memory() : null,
    };
  } finally {
    await closeAll(peers);
    await testEnv.cleanup();
  }
}

if (import.meta.main) {
  // deno-lint-ignore no-console -- a benchmark reports to the terminal
  console.log(JSON.stringify(await measureMemory()));
}
