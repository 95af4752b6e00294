/**
 * Soak: steady traffic for a bounded time (each peer sends to the next in turn, one call at a
 * time, about `rate` messages a second), then the live V8 heap (after a full collection, over
 * the inspector) and the private memory of the broker and of every MCP server, against what
 * they held after a warm-up. The processes run under `deno run --inspect=127.0.0.1:0`.
 *
 * @module
 */
import { selfInvocation } from "../broker/spawn.ts";
import { privateMb } from "./process_stats.ts";
import { inspectorUrl, liveHeapMb } from "./heap.ts";
import { closeAll, createTestEnv, type McpPeer, sleep, spawnMcp } from "./harness.ts";
import { waitFor } from "../tests/_helpers.ts";

/** Heap and private memory of one kind of process at the start and end, in MB. */
export interface SoakFigure {
  heapMb: { start: number; end: number };
  privateMb: { start: number; end: number };
}

/** What the soak saw. */
export interface SoakResult {
  seconds: number;
  messages: number;
  broker: SoakFigure;
  /** The server whose heap grew most. */
  server: SoakFigure;
  /** The larger heap growth of the broker and the worst server, in percent of the start. */
  heapGrowthPercent: number;
}

/** `claude-peers <args>` under `deno run`, with the inspector on a free port. */
function inspected(args: string[]) {
  const { command, args: runArgs } = selfInvocation(args);
  // Not --quiet: that would hide the line naming the inspector's URL.
  const flags = runArgs.slice(1).filter((arg) => arg !== "--quiet");
  return { command, args: ["run", "--inspect=127.0.0.1:0", ...flags] };
}

/** Runs `servers` peers exchanging about `rate` messages a second for `seconds`. */
export async function measureSoak(seconds: number, servers = 3, rate = 50): Promise<SoakResult> {
  await using testEnv = await createTestEnv();
  const brokerRun = inspected(["broker"]);
  const broker = new Deno.Command(brokerRun.command, {
    args: brokerRun.args,
    env: testEnv.env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let brokerStderr = "";
  const reading = broker.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (brokerStderr += chunk) }),
  );
  const peers: McpPeer[] = [];
  try {
    await waitFor(
      async () => {
        try {
          await testEnv.client().health();
          return true;
        } catch {
          return false;
        }
      },
      15_000,
      "the broker",
    );
    for (let i = 0; i < servers; i++) {
      peers.push(await spawnMcp(testEnv, { launch: inspected(["mcp"]) }));
    }
    const ids = await Promise.all(peers.map((peer) => peer.id()));
    const urls = [inspectorUrl(brokerStderr), ...peers.map((peer) => inspectorUrl(peer.stderr()))];
    if (urls.some((url) => url === undefined)) throw new Error("a process has no inspector URL");
    const pids = [broker.pid, ...peers.map((peer) => peer.pid())];
    let sent = 0;
    const traffic = async (untilMs: number) => {
      while (performance.now() < untilMs) {
        const started = performance.now();
        const from = sent % peers.length;
        const result = await peers[from]!.call("send_message", {
          to_id: ids[(from + 1) % peers.length],
          message: `soak ${sent}`,
        });
        if (result.isError) throw new Error(result.text);
        sent++;
        await sleep(Math.max(0, 1000 / rate - (performance.now() - started)));
      }
    };
    const received = () => peers.reduce((total, peer) => total + peer.channel.length, 0);
    const snapshot = async () => {
      await waitFor(() => received() >= sent, 30_000, "every soak message delivered");
      await sleep(500);
      const heaps = await Promise.all(urls.map((url) => liveHeapMb(url!)));
      return { heaps, privates: await Promise.all(pids.map(privateMb)) };
    };
    // Warm-up: code compiled, caches and buffers at their working size.
    await traffic(performance.now() + Math.min(10_000, seconds * 200));
    const start = await snapshot();
    const before = sent;
    await traffic(performance.now() + seconds * 1000);
    const end = await snapshot();
    const growth = (i: number) => ((end.heaps[i]! - start.heaps[i]!) / start.heaps[i]!) * 100;
    const figure = (i: number): SoakFigure => ({
      heapMb: { start: start.heaps[i]!, end: end.heaps[i]! },
      privateMb: { start: start.privates[i]!, end: end.privates[i]! },
    });
    const serverIndexes = peers.map((_, i) => i + 1);
    const worst = serverIndexes.reduce((a, b) => growth(b) > growth(a) ? b : a);
    return {
      seconds,
      messages: sent - before,
      broker: figure(0),
      server: figure(worst),
      heapGrowthPercent: Math.max(growth(0), growth(worst)),
    };
  } finally {
    await closeAll(peers);
    broker.kill("SIGTERM");
    await broker.status;
    await reading;
  }
}
