/**
 * `claude-peers tail`: how long it takes from spawn to watching (its first line, the hello of
 * `--json`), and what a running tail costs while nothing happens: its own CPU time, and the
 * broker's, over an idle stretch. Neither side has a timer, so both should be zero.
 *
 * @module
 */
import { median } from "./stats.ts";
import { cpuPercentDuring, cpuTimeMs } from "./process_stats.ts";
import { createTestEnv, startBroker, startTail } from "../tests/_helpers.ts";
import { brokerPid, sleep } from "./harness.ts";

/** What a tail costs. */
export interface TailResult {
  /** Spawn → first line, each start, in ms. */
  startMs: number[];
  startMedianMs: number;
  idleMs: number;
  /** CPU time the tail used over the idle stretch, in ms. */
  tailIdleCpuMs: number;
  tailIdleCpuPercent: number;
  brokerIdleCpuPercent: number;
}

/** Starts `starts` tails one after another, then watches one over `idleMs` of quiet. */
export async function measureTail(starts: number, idleMs: number): Promise<TailResult> {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  const startMs: number[] = [];
  for (let i = 0; i < starts; i++) {
    await using tail = await startTail(testEnv, ["--json"]);
    startMs.push(tail.firstLineMs()!);
  }
  await using tail = await startTail(testEnv, ["--json"]);
  const tailPid = tail.process.pid;
  const broker = await brokerPid(testEnv);
  // Let start-up work (module loading, JIT, GC) settle before measuring quiet.
  await sleep(Math.min(2_000, idleMs));
  const before = await cpuTimeMs(tailPid);
  let brokerIdleCpuPercent = 0;
  const tailIdleCpuPercent = await cpuPercentDuring([tailPid], async () => {
    brokerIdleCpuPercent = await cpuPercentDuring([broker], () => sleep(idleMs));
  });
  const tailIdleCpuMs = (await cpuTimeMs(tailPid)) - before;
  return {
    startMs,
    startMedianMs: median(startMs),
    idleMs,
    tailIdleCpuMs,
    tailIdleCpuPercent,
    brokerIdleCpuPercent,
  };
}
