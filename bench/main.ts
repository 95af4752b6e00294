/**
 * `deno task bench`: real broker, real `claude-peers mcp` servers over stdio, channel mode on.
 * Prints a table of figures against their targets and writes the same figures as JSON.
 *
 *   deno task bench [--quick] [--out results.json]
 *   deno task bench --soak [--out results.json]     30 minutes of steady traffic, nothing else
 *
 * Each target row shows the figure before issue 11 (the issue's table, or the README's for
 * pipelined throughput), today's figure and the target.
 *
 * @module
 */
// deno-lint-ignore-file no-console -- a benchmark reports to the terminal
import { parseArgs } from "node:util";
import { cpus, totalmem } from "node:os";
import { measureLatency } from "./latency.ts";
import { type CpuPerMessage, measureThroughput, type ThroughputResult } from "./throughput.ts";
import { measureScale } from "./scale.ts";
import { measureStartup } from "./startup.ts";
import { measureRestart } from "./restart.ts";
import { median, round } from "./stats.ts";
import { measureContextHook, measureHookedWake, measureWaitingHook } from "./hooks.ts";
import { measureBroadcast } from "./broadcast.ts";
import { measureTail } from "./tail.ts";
import { measureMemory } from "./memory.ts";
import { measureSoak, type SoakResult } from "./soak.ts";

/** One figure next to its target and what it was before issue 11. */
export interface TargetCheck {
  name: string;
  /** The figure before issue 11, or null where there was none. */
  before: number | null;
  value: number;
  unit: string;
  target: string;
  pass: boolean;
}

/** The soak of `--soak`: issue 11's 30 minutes. */
const LONG_SOAK_SECONDS = 30 * 60;

const SIZES = {
  full: {
    latency: 500,
    senders: 4,
    perSender: 1000,
    window: 16,
    scale: [2, 10, 30, 50, 100],
    listCalls: 200,
    idleMs: 10_000,
    later: 5,
    restarts: 3,
    hookIdleMs: 5_000,
    hookCalls: 200,
    wakes: 5,
    broadcastTo: 30,
    broadcasts: 5,
    tailStarts: 5,
    tailIdleMs: 10_000,
    memorySettleMs: 4_000,
    soakSeconds: 60,
  },
  quick: {
    latency: 20,
    senders: 2,
    perSender: 50,
    window: 4,
    scale: [2, 5],
    listCalls: 20,
    idleMs: 500,
    later: 2,
    restarts: 1,
    hookIdleMs: 500,
    hookCalls: 20,
    wakes: 1,
    broadcastTo: 3,
    broadcasts: 1,
    tailStarts: 1,
    tailIdleMs: 500,
    memorySettleMs: 1_000,
    soakSeconds: 3,
  },
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { quick: { type: "boolean" }, soak: { type: "boolean" }, out: { type: "string" } },
    strict: true,
  });
  const step = (name: string) => console.error(`bench: ${name}…`);
  if (values.soak) {
    step(`soak, ${LONG_SOAK_SECONDS / 60} minutes`);
    const soak = await measureSoak(LONG_SOAK_SECONDS);
    const targets = [soakCheck(soak)];
    printTargets(targets);
    console.log(soakLine(soak));
    if (values.out) {
      await Deno.writeTextFile(values.out, JSON.stringify({ soak, targets }, null, 2));
    }
    return;
  }
  const sizes = values.quick ? SIZES.quick : SIZES.full;
  // Memory first, on a quiet machine: 3 servers + broker, read after they settle (issue 11).
  step("memory");
  const memory = await measureMemory(3, sizes.memorySettleMs);
  step("delivery latency");
  const latency = await measureLatency(sizes.latency);
  step("throughput");
  // As fast as they go: each sender keeps `window` calls in flight (Claude Code can call tools
  // in parallel too); the one-call-at-a-time figure is reported beside it.
  const throughput = await measureThroughput(sizes.senders, sizes.perSender, sizes.window);
  const sequential = await measureThroughput(sizes.senders, sizes.perSender, 1);
  const integrity = (t: ThroughputResult) => t.lost + t.duplicated + t.outOfOrder;
  step("scale");
  const scale = await measureScale(sizes.scale, sizes.listCalls, sizes.idleMs);
  step("start-up");
  const startup = await measureStartup(sizes.later);
  step("broker restart");
  const restart = await measureRestart(sizes.restarts);
  step("broadcast fan-out");
  const broadcast = await measureBroadcast(sizes.broadcastTo, sizes.broadcasts);
  step("hooks");
  const waitingHook = await measureWaitingHook(sizes.hookIdleMs);
  const contextHook = await measureContextHook(sizes.hookCalls);
  const wake = await measureHookedWake(sizes.wakes);
  const wakeMs = typeof wake === "string" ? NaN : median(wake);
  step("tail");
  const tail = await measureTail(sizes.tailStarts, sizes.tailIdleMs);
  step(`soak, ${sizes.soakSeconds} s`);
  const soak = await measureSoak(sizes.soakSeconds);

  const at = (peers: number) => scale.find((point) => point.peers === peers) ?? scale.at(-1)!;
  const idlePoint = at(30);
  const biggest = at(100);
  const targets: TargetCheck[] = [
    check("MCP server, private memory", 36.3, memory.server.privateMb, "MB", "<= 18"),
    check("MCP server, RSS", 76, memory.server.rssMb, "MB", "<= 56"),
    check("broker, private memory", 20.6, memory.broker.privateMb, "MB", "<= 8"),
    check("broker, RSS", 64, memory.broker.rssMb, "MB", "<= 40"),
    check("delivery latency p50", 4.2, latency.p50, "ms", "< 5"),
    check("delivery latency p99", 9.7, latency.p99, "ms", "< 25"),
    check(
      `throughput, ${throughput.window} in flight per sender`,
      2460,
      throughput.messagesPerSecond,
      "msg/s",
      ">= 2000",
    ),
    check(
      "throughput, one call at a time",
      538,
      sequential.messagesPerSecond,
      "msg/s",
      ">= 1300",
    ),
    check(
      "lost / duplicated / out of order",
      0,
      integrity(throughput) + integrity(sequential),
      "msgs",
      "= 0",
    ),
    check(
      `idle CPU, broker + ${idlePoint.peers} servers, first ${sizes.idleMs / 1000} s`,
      0.5,
      idlePoint.idleCpuPercent,
      "% core",
      "< 1",
    ),
    check(
      `idle CPU, broker + ${idlePoint.peers} servers, next ${sizes.idleMs / 1000} s`,
      null,
      idlePoint.settledIdleCpuPercent,
      "% core",
      "< 1",
    ),
    check("tail start → watching", null, tail.startMedianMs, "ms", "< 300"),
    check(`tail CPU over ${tail.idleMs / 1000} s idle`, null, tail.tailIdleCpuMs, "ms", "= 0"),
    check("idle hooked session: sent → model request, p50", null, wakeMs, "ms", "< 300"),
    check(`list_peers p99, ${biggest.peers} peers`, 7.3, biggest.listPeersMs.p99, "ms", "< 10"),
    check(`broker RSS, ${biggest.peers} peers`, 73.2, biggest.brokerRssMb, "MB", "< 80"),
    check("later server: spawn → tools/list", 148, startup.laterToolsListMs, "ms", "< 90"),
    check("later server: spawn → visible", 169, startup.laterVisibleMs, "ms", "< 90"),
    check("waiting hook, private memory", 16.5, waitingHook.privateMb, "MB", "<= 10"),
    check("waiting hook, CPU while waiting", 0, waitingHook.idleCpuPercent, "% core", "= 0"),
    check("PostToolUse hook, nothing to show, p99", null, contextHook.httpP99Ms, "ms", "< 5"),
    check("idle hooked session: sent → model request", null, wakeMs, "ms", "p50 < 300"),
    soakCheck(soak),
  ];
  const report = {
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "unknown",
      memoryGiB: round(totalmem() / 2 ** 30, 1),
      os: `${Deno.build.os} ${Deno.build.arch}`,
      deno: Deno.version.deno,
      mode: Deno.build.standalone ? "compiled" : "deno run",
    },
    quick: values.quick === true,
    latencyMs: latency,
    throughput,
    sequentialThroughput: sequential,
    scale,
    startupMs: startup,
    restart,
    broadcast,
    hooks: {
      waiting: waitingHook,
      context: contextHook,
      wakeMs: typeof wake === "string" ? { skipped: wake } : wake,
    },
    tail,
    memory,
    soak,
    targets,
  };
  printTable(report);
  console.log([
    "",
    `hooks: a waiting hook holds ${round(waitingHook.privateMb, 1)} MB private, ${
      round(waitingHook.rssMb, 1)
    } MB RSS, ${round(waitingHook.idleCpuPercent, 3)} % CPU${
      waitingHook.bare
        ? `; beside it, a deno run process that loads nothing ${
          round(waitingHook.bare.privateMb, 1)
        } MB private`
        : ""
    }`,
    `       PostToolUse over HTTP with nothing to show: p50 ${
      round(contextHook.httpP50Ms)
    } ms, p99 ${round(contextHook.httpP99Ms)} ms (a command hook's process: ${
      round(contextHook.commandMedianMs, 0)
    } ms)`,
    typeof wake === "string"
      ? `       idle hooked session wake: skipped (${wake})`
      : `       idle hooked session, sent → model request: ${
        wake.map((v) => round(v, 0)).join(", ")
      } ms`,
    `tail: spawn → watching ${tail.startMs.map((v) => round(v, 0)).join(", ")} ms; over ${
      tail.idleMs / 1000
    } s idle the tail used ${round(tail.tailIdleCpuMs, 0)} ms CPU (${
      round(tail.tailIdleCpuPercent, 3)
    } %), the broker ${round(tail.brokerIdleCpuPercent, 3)} %`,
    `memory (3 servers + broker, ${sizes.memorySettleMs / 1000} s after start): server ${
      round(memory.server.privateMb, 1)
    } MB private, ${round(memory.server.rssMb, 1)} MB RSS; broker ${
      round(memory.broker.privateMb, 1)
    } MB private, ${round(memory.broker.rssMb, 1)} MB RSS${
      memory.bare
        ? `; a deno run process that loads nothing ${round(memory.bare.privateMb, 1)} MB private, ${
          round(memory.bare.rssMb, 1)
        } MB RSS`
        : ""
    }`,
    soakLine(soak),
  ].join("\n"));
  if (values.out) await Deno.writeTextFile(values.out, JSON.stringify(report, null, 2) + "\n");
}

/** A target row; `target` is `< N`, `<= N`, `>= N`, `= N` or `p50 < N`, checked against `value`. */
function check(
  name: string,
  before: number | null,
  value: number,
  unit: string,
  target: string,
): TargetCheck {
  const [, operator, bound] = target.match(/(<=|>=|<|=)\s*([\d.]+)$/) ?? [];
  const limit = Number(bound);
  const pass = operator === "<="
    ? value <= limit
    : operator === ">="
    ? value >= limit
    : operator === "<"
    ? value < limit
    : value === limit;
  return { name, before, value: round(value), unit, target, pass };
}

function soakCheck(soak: SoakResult): TargetCheck {
  return check(
    `soak ${soak.seconds} s: heap growth, broker/server`,
    null,
    soak.heapGrowthPercent,
    "%",
    "<= 10",
  );
}

function soakLine(soak: SoakResult): string {
  const mb = (pair: { start: number; end: number }) =>
    `${round(pair.start, 1)} → ${round(pair.end, 1)} MB`;
  return `soak: ${soak.messages} messages in ${soak.seconds} s; live heap broker ${
    mb(soak.broker.heapMb)
  }, server ${mb(soak.server.heapMb)}; private broker ${mb(soak.broker.privateMb)}, server ${
    mb(soak.server.privateMb)
  }`;
}

function cpuLine(cpu: CpuPerMessage): string {
  const total = cpu.broker + cpu.senders + cpu.receiver + cpu.client;
  return `CPU per message: broker ${round(cpu.broker, 3)} ms, senders ${
    round(cpu.senders, 3)
  }, receiver ${round(cpu.receiver, 3)}, the bench's clients ${round(cpu.client, 3)}; total ${
    round(total, 3)
  } ms`;
}

function printTargets(targets: TargetCheck[]): void {
  console.log([
    `${"target".padEnd(44)} ${"before".padEnd(10)} ${"now".padEnd(16)} ${
      "target".padEnd(10)
    } result`,
    ...targets.map((c) =>
      `${c.name.padEnd(44)} ${String(c.before ?? "–").padEnd(10)} ${
        `${c.value} ${c.unit}`.padEnd(16)
      } ${c.target.padEnd(10)} ${c.pass ? "met" : "MISSED"}`
    ),
  ].join("\n"));
}

function printTable(report: {
  latencyMs: { p50: number; p90: number; p99: number; max: number; count: number };
  throughput: ThroughputResult;
  sequentialThroughput: ThroughputResult;
  scale: {
    peers: number;
    listPeersMs: { p50: number; p99: number };
    brokerRssMb: number;
    idleCpuPercent: number;
    settledIdleCpuPercent: number;
  }[];
  startupMs: {
    firstToolsListMs: number;
    firstVisibleMs: number;
    laterToolsListMs: number;
    laterVisibleMs: number;
  };
  restart: { medianMs: number; samplesMs: number[] };
  broadcast: { recipients: number; medianMs: number; firstMedianMs: number; samplesMs: number[] };
  targets: TargetCheck[];
  machine: { cpus: number; cpuModel: string; memoryGiB: number; mode: string; deno: string };
}): void {
  const { latencyMs: l, throughput: t, startupMs: s, restart: r, machine: m } = report;
  const lines = [
    `machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, deno ${m.deno}, ${m.mode}`,
    "",
    `delivery latency (${l.count} msgs)   p50 ${round(l.p50)} ms  p90 ${round(l.p90)} ms  p99 ${
      round(l.p99)
    } ms  max ${round(l.max)} ms`,
    ...[t, report.sequentialThroughput].flatMap((run) => [
      `throughput (${run.senders} → 1, ${run.messages} msgs, ${run.window} in flight per sender)  ${
        round(run.messagesPerSecond, 0)
      } msg/s  lost ${run.lost}  duplicated ${run.duplicated}  out of order ${run.outOfOrder}`,
      `  ${cpuLine(run.cpuPerMessageMs)}`,
    ]),
    "",
    "peers  list_peers p50  list_peers p99  broker RSS  idle CPU (broker + servers): first, next window",
    ...report.scale.map((p) =>
      `${String(p.peers).padStart(5)}  ${`${round(p.listPeersMs.p50)} ms`.padStart(14)}  ${
        `${round(p.listPeersMs.p99)} ms`.padStart(14)
      }  ${`${round(p.brokerRssMb, 1)} MB`.padStart(10)}  ${round(p.idleCpuPercent, 3)} %, ${
        round(p.settledIdleCpuPercent, 3)
      } % of one core`
    ),
    "",
    `start-up: first server tools/list ${round(s.firstToolsListMs, 0)} ms, visible ${
      round(s.firstVisibleMs, 0)
    } ms (starts the broker)`,
    `          later servers tools/list ${round(s.laterToolsListMs, 0)} ms, visible ${
      round(s.laterVisibleMs, 0)
    } ms (median)`,
    `broker SIGKILL → next message delivered: median ${round(r.medianMs, 0)} ms (${
      r.samplesMs.map((v) => round(v, 0)).join(", ")
    })`,
    `broadcast to ${report.broadcast.recipients} peers → last copy shown: median ${
      round(report.broadcast.medianMs)
    } ms, first copy ${round(report.broadcast.firstMedianMs)} ms (${
      report.broadcast.samplesMs.map((v) => round(v, 1)).join(", ")
    })`,
    "",
  ];
  console.log(lines.join("\n"));
  printTargets(report.targets);
}

if (import.meta.main) await main();
