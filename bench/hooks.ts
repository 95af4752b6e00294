/**
 * Hook delivery: the memory and CPU of one waiting `claude-peers hook wait`, what the
 * PostToolUse/UserPromptSubmit HTTP hook costs with nothing to show (and, for comparison, a
 * command hook's process start), and message sent → model request at the mock API for an idle
 * Claude Code session woken by its hooks (the real CLI, offline; skipped when the harness
 * cannot run here).
 *
 * @module
 */
import { median, percentile } from "./stats.ts";
import { cpuPercentDuring, privateMb, residentMb } from "./process_stats.ts";
import { type MemoryFigure, startBareProcess } from "./bare_process.ts";
import {
  claudePeersCommand,
  createTestEnv,
  spawnMcp,
  startBroker,
  waitFor,
} from "../tests/_helpers.ts";
import { resolveConfig } from "../broker/config.ts";
import { hookToken, loadOrCreateSecret } from "../broker/secret.ts";
import { harnessSkipReason } from "../tests/claude_code/harness.ts";
import { messagesText } from "../tests/claude_code/mock_anthropic.ts";
import {
  hookedEnv,
  hookedPeerId,
  startHookedSession,
} from "../tests/claude_code/hooked_session.ts";

/** What a waiting hook costs. */
export interface WaitingHookResult {
  privateMb: number;
  rssMb: number;
  idleCpuPercent: number;
  /** A `deno run` process that loads nothing, measured beside it; null for a binary. */
  bare: MemoryFigure | null;
}

/** What a context hook with nothing to show costs, in ms. */
export interface ContextHookResult {
  httpP50Ms: number;
  httpP99Ms: number;
  commandMedianMs: number;
}

const SESSION = "bench-hook-session-0001";

/** Spawns one `hook wait` for a registered session and measures it while it waits. */
export async function measureWaitingHook(idleMs: number): Promise<WaitingHookResult> {
  await using testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" });
  await using _broker = await startBroker(testEnv);
  await using _peer = await spawnMcp(testEnv, { env: { CLAUDE_CODE_SESSION_ID: SESSION } });
  await using bare = testEnv.bin ? undefined : startBareProcess();
  await waitFor(
    async () => (await testEnv.client().listPeers("machine")).peers.length === 1,
    15_000,
    "the session's peer",
  );
  const { command, args } = claudePeersCommand(["hook", "wait"]);
  const hook = new Deno.Command(command, {
    args,
    env: { ...testEnv.env, CLAUDE_CODE_SESSION_ID: SESSION },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitFor(
      async () => (await testEnv.client().listPeers("machine")).peers[0]?.delivery === "hooks",
      15_000,
      "the waiter",
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const idleCpuPercent = await cpuPercentDuring(
      [hook.pid],
      () => new Promise((resolve) => setTimeout(resolve, idleMs)),
    );
    return {
      privateMb: await privateMb(hook.pid),
      rssMb: await residentMb(hook.pid),
      idleCpuPercent,
      bare: bare ? await bare.memory() : null,
    };
  } finally {
    hook.kill("SIGKILL");
    await hook.status;
  }
}

/** Times the HTTP context hook with an empty inbox, and a command hook's start, `calls` times. */
export async function measureContextHook(calls: number): Promise<ContextHookResult> {
  await using testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" });
  await using _broker = await startBroker(testEnv);
  await using _peer = await spawnMcp(testEnv, { env: { CLAUDE_CODE_SESSION_ID: SESSION } });
  const config = resolveConfig({ get: (name) => testEnv.env[name] });
  const token = await hookToken(await loadOrCreateSecret(config.secretPath, config.stateDir));
  const body = JSON.stringify({ session_id: SESSION, hook_event_name: "PostToolUse" });
  const http: number[] = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    const response = await fetch(`${config.brokerUrl}/hook/context?token=${token}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    await response.text();
    http.push(performance.now() - start);
  }
  const command: number[] = [];
  for (let i = 0; i < Math.min(calls, 5); i++) {
    const { command: program, args } = claudePeersCommand(["hook", "context"]);
    const start = performance.now();
    const child = new Deno.Command(program, {
      args,
      env: { ...testEnv.env, CLAUDE_CODE_SESSION_ID: SESSION },
      clearEnv: true,
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(body));
    await writer.close();
    await child.status;
    command.push(performance.now() - start);
  }
  const sorted = http.sort((a, b) => a - b);
  return {
    httpP50Ms: percentile(sorted, 50),
    httpP99Ms: percentile(sorted, 99),
    commandMedianMs: median(command),
  };
}

/** Message sent → woken request at the mock, for an idle hooked Claude Code session. */
export async function measureHookedWake(wakes: number): Promise<number[] | string> {
  const skip = await harnessSkipReason();
  if (skip) return skip;
  await using testEnv = await hookedEnv();
  await using _broker = await startBroker(testEnv);
  await using cc = await startHookedSession(testEnv);
  await cc.send("first turn");
  await cc.waitForResult(60_000);
  const samples: number[] = [];
  for (let i = 0; i < wakes; i++) {
    const peerId = await hookedPeerId(testEnv);
    const marker = `BENCH-WAKE-${i}-${crypto.randomUUID()}`;
    const since = cc.events.length;
    const start = Date.now();
    await testEnv.client().send({ to_id: peerId, text: marker, from_name: "bench" });
    const woken = await cc.mock.waitForText(marker, 30_000);
    samples.push(woken.at - start);
    if (!messagesText(woken).includes(marker)) throw new Error("the woken request lacks the text");
    await cc.waitForResult(60_000, since);
  }
  return samples;
}
