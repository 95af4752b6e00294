/**
 * ensureBroker(): find the broker, or start one as a detached background process that
 * outlives its starter, and wait (bounded) until it answers. Also the one place that decides
 * how this program re-invokes itself, compiled or under `deno run`.
 *
 * @module
 */
import { type Config, joinPath, parentPath } from "./config.ts";
import { BrokerClient, BrokerUnavailableError } from "./client.ts";
import { ensurePrivateDirectory } from "./secret.ts";
import denoJson from "../deno.json" with { type: "json" };

/**
 * Permissions the program needs, the same under `deno run` and baked into the binary: the
 * flags of deno.json's default permission set, the one place they are listed.
 */
export const PERMISSION_FLAGS: readonly string[] = Object.entries(denoJson.permissions.default)
  .filter(([, granted]) => granted === true)
  .map(([name]) => `--allow-${name}`);

/**
 * V8 flags every mode runs with, the same under `deno run` and baked into the binary (issue 11):
 * - A young generation capped at 1 MB per semi-space keeps an MCP server ~2.5 MB smaller (it
 *   otherwise grows to ~6 MB while the SDK loads and stays committed) for a few more scavenges.
 * - Memory saver mode, and V8's memory reducer starting 1 s after start instead of 30 s: the
 *   reducer collects at once instead of waiting for a low allocation rate, and V8 hands back
 *   the pages start-up left empty instead of pooling them. An MCP server holds ~18 MB private
 *   from about 2 s on instead of ~22 MB for its first 30 s; the broker ~2 MB less. The price is
 *   the reducer's two collections in each process's first seconds (broker + 30 servers: 5.8 %
 *   of a core over the first 10 s against 0.8 %, 0 % after that either way), and ~8 % of
 *   pipelined throughput (about 2,060 msg/s against 2,220 without these two and the next).
 * - No Sparkplug (the baseline compiler between the interpreter and Maglev): its machine code
 *   costs an MCP server ~0.3 MB, the broker ~0.7; hot code still gets Maglev and Turbofan. The
 *   one-call-at-a-time throughput moved by ~3 %.
 */
export const V8_FLAGS: readonly string[] = [
  "--max-semi-space-size=1",
  "--memory-saver-mode",
  "--gc-memory-reducer-start-delay-ms=1000",
  "--no-sparkplug",
];

/** {@link V8_FLAGS} as one `deno run` / `deno compile` argument. */
export const V8_FLAGS_ARG = `--v8-flags=${V8_FLAGS.join(",")}`;

/** A spawn lock older than this belongs to a starter that died; it is taken over. */
const SPAWN_LOCK_STALE_MS = 10_000;

/** A command line that runs this program again with `args`. */
export interface SelfInvocation {
  command: string;
  args: string[];
}

/**
 * A `deno run` flag the binary has no use for (it builds no module graph): each dynamic import
 * joins the module graph when it runs, not at start, so a process holds the graph of its own
 * mode, not of every mode. A waiting hook is ~1.7 MB smaller, the broker ~2.5, an MCP server ~1
 * (issue 11).
 */
export const LAZY_DYNAMIC_IMPORTS_FLAG = "--unstable-lazy-dynamic-imports";

/** How to run this program again: the binary itself when compiled, else `deno run main.ts`. */
export function selfInvocation(args: string[]): SelfInvocation {
  if (Deno.build.standalone) return { command: Deno.execPath(), args };
  // import.meta.dirname rather than node:url and node:path, which would cost memory.
  const root = parentPath(import.meta.dirname!);
  const main = joinPath(root, "main.ts");
  const config = joinPath(root, "deno.json");
  return {
    command: Deno.execPath(),
    args: [
      "run",
      "--quiet",
      ...PERMISSION_FLAGS,
      "--unstable-kv",
      LAZY_DYNAMIC_IMPORTS_FLAG,
      V8_FLAGS_ARG,
      "--config",
      config,
      main,
      ...args,
    ],
  };
}

/** Options for {@link ensureBroker}. */
export interface EnsureBrokerOptions {
  /** How long to wait for a started broker to answer. @default 15000 */
  timeoutMs?: number;
  /**
   * The client to check with; the caller's own saves its first call a second proof of the
   * broker. @default a new client for `config`
   */
  client?: BrokerClient;
  /** Called once no broker answered at first, as this call goes on to wait for (or start) one. */
  onWait?: () => void;
}

/** Makes sure a broker answers on the configured port; returns whether this call started it. */
export async function ensureBroker(
  config: Config,
  options: EnsureBrokerOptions = {},
): Promise<"running" | "started"> {
  const client = options.client ?? new BrokerClient(config);
  if (await answers(client)) return "running";
  options.onWait?.();
  await ensurePrivateDirectory(config.stateDir);
  const lockPath = joinPath(config.stateDir, "spawn.lock");
  const timeoutMs = options.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  let child: { exitedAt?: number } | undefined;
  try {
    while (Date.now() < deadline) {
      if (await answers(client)) return child ? "started" : "running";
      // One starter at a time: many clients finding the broker gone start one broker, not many.
      if (!child && await acquireSpawnLock(lockPath)) child = startDetachedBroker(config);
      // A broker that lost a start race exits at once while the winner comes up; give it a moment.
      if (child?.exitedAt !== undefined && Date.now() - child.exitedAt > 1_500) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } finally {
    if (child) await Deno.remove(lockPath).catch(() => {});
  }
  const reason = child?.exitedAt === undefined ? `did not answer within ${timeoutMs} ms` : "exited";
  throw new BrokerUnavailableError(
    `The broker on port ${config.port} ${reason}: ${await lastLogLine(config.logPath)}`,
  );
}

function startDetachedBroker(config: Config): { exitedAt?: number } {
  const invocation = selfInvocation(["broker", "--log-file", config.logPath]);
  const process = new Deno.Command(invocation.command, {
    args: invocation.args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  process.unref();
  const started: { exitedAt?: number } = {};
  process.status.then(() => started.exitedAt = Date.now());
  return started;
}

/** Takes the spawn lock, or takes over one left behind by a starter that died. */
async function acquireSpawnLock(path: string): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await Deno.writeTextFile(path, String(Deno.pid), { createNew: true, mode: 0o600 });
      return true;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      const modified = (await Deno.stat(path).catch(() => null))?.mtime?.getTime();
      if (modified === undefined || Date.now() - modified < SPAWN_LOCK_STALE_MS) return false;
      await Deno.remove(path).catch(() => {});
    }
  }
  return false;
}

async function lastLogLine(path: string): Promise<string> {
  try {
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
    return `"${lines.at(-1)}" (log: ${path})`;
  } catch {
    return `no log at "${path}"`;
  }
}

/**
 * Whether a broker answers. Something that accepts on the port and never answers (a stopped
 * or stuck broker) is not worth starting another broker for: that one could not bind.
 */
async function answers(client: BrokerClient): Promise<boolean> {
  try {
    await client.health();
    return true;
  } catch (error) {
    if (!(error instanceof BrokerUnavailableError)) throw error;
    if (error.cause instanceof DOMException && error.cause.name === "TimeoutError") throw error;
    return false;
  }
}
