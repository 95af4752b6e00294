/**
 * ensureBroker(): find the broker, or start one as a detached background process that
 * outlives its starter, and wait (bounded) until it answers. Also the one place that decides
 * how this program re-invokes itself, compiled or under `deno run`.
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import type { Config } from "./config.ts";
import { BrokerClient, BrokerUnavailableError } from "./client.ts";

/** Permissions the program needs, the same under `deno run` and baked into the binary. */
export const PERMISSION_FLAGS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
] as const;

/** A command line that runs this program again with `args`. */
export interface SelfInvocation {
  command: string;
  args: string[];
}

/** How to run this program again: the binary itself when compiled, else `deno run main.ts`. */
export function selfInvocation(args: string[]): SelfInvocation {
  if (Deno.build.standalone) return { command: Deno.execPath(), args };
  const main = fromFileUrl(new URL("../main.ts", import.meta.url));
  const config = fromFileUrl(new URL("../deno.json", import.meta.url));
  return {
    command: Deno.execPath(),
    args: [
      "run",
      "--quiet",
      ...PERMISSION_FLAGS,
      "--unstable-kv",
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
}

/** Makes sure a broker answers on the configured port; returns whether this call started it. */
export async function ensureBroker(
  config: Config,
  options: EnsureBrokerOptions = {},
): Promise<"running" | "started"> {
  const client = new BrokerClient(config);
  if (await answers(client)) return "running";
  const invocation = selfInvocation(["broker", "--log-file", config.logPath]);
  const child = new Deno.Command(invocation.command, {
    args: invocation.args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  let exitedAt: number | undefined;
  child.status.then(() => exitedAt = Date.now());
  const timeoutMs = options.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await answers(client)) return "started";
    // A broker that lost a start race exits at once while the winner comes up; give it a moment.
    if (exitedAt !== undefined && Date.now() - exitedAt > 1_500) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const reason = exitedAt === undefined ? `did not answer within ${timeoutMs} ms` : "exited";
  throw new BrokerUnavailableError(
    `The broker on port ${config.port} ${reason}: ${await lastLogLine(config.logPath)}`,
  );
}

async function lastLogLine(path: string): Promise<string> {
  try {
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
    return `"${lines.at(-1)}" (log: ${path})`;
  } catch {
    return `no log at "${path}"`;
  }
}

async function answers(client: BrokerClient): Promise<boolean> {
  try {
    await client.health();
    return true;
  } catch (error) {
    if (error instanceof BrokerUnavailableError) return false;
    throw error;
  }
}
