/**
 * Stopping every broker a test left running, without a fixed wait: ask the answering broker
 * for its pid, POST /shutdown, wait until that pid is gone, and look again, because a broker
 * auto-started late (its starter died mid-start) may come up after the first one stopped.
 * It also waits (with `ps`, so not on Windows) for every process started with the test's
 * database to end, so a broker still loading its modules cannot slip past the check.
 *
 * It never signals a process that was not started with the test's database.
 *
 * @module
 */
import process from "node:process";
import { join } from "node:path";
import { type BrokerClient, BrokerError, BrokerUnavailableError } from "../../broker/client.ts";

/** What {@link stopEveryBroker} needs to know about a test's broker. */
export interface BrokerSite {
  port: number;
  dbPath: string;
  client: () => BrokerClient;
}

const STOP_TIMEOUT_MS = 15_000;
const POLL_MS = 10;
/** A spawn lock younger than this may belong to a starter whose broker is not up yet. */
const FRESH_LOCK_MS = 5_000;

/**
 * Stops whatever broker answers for `site` until none answers, the port is free and (except
 * on Windows) no process of the test is left; fails after `timeoutMs`, killing the leftovers.
 */
export async function stopEveryBroker(
  site: BrokerSite,
  timeoutMs = STOP_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const client = site.client();
  while (true) {
    const answer = await whoAnswers(client);
    if (typeof answer === "number") {
      await client.shutdown().catch(() => {});
      if (await exitsBefore(answer, deadline)) continue;
      killQuietly(answer);
      throw new Error(`The broker (pid ${answer}) did not exit after POST /shutdown: killed it`);
    }
    const left = await processesStartedWith(site.dbPath);
    const portSettled = answer === "other" || portIsFree(site.port);
    if (left.length === 0 && portSettled && !await spawnLockIsFresh(site.dbPath)) return;
    if (Date.now() > deadline) {
      for (const pid of left) killQuietly(pid);
      throw new Error(
        `Processes of the test were still running ${timeoutMs} ms after its end: killed pids ${
          left.join(", ") || "(none; the port stayed busy)"
        }`,
      );
    }
    await sleep(POLL_MS);
  }
}

/** The pid of the broker that answers, "none" when nothing does, "other" for a non-broker. */
async function whoAnswers(client: BrokerClient): Promise<number | "none" | "other"> {
  try {
    await client.health();
  } catch (error) {
    if (error instanceof BrokerUnavailableError) return "none";
    if (error instanceof BrokerError) return "other";
    throw error;
  }
  try {
    return (await client.status()).pid;
  } catch {
    // It stopped between the two requests; the next round looks again.
    return "none";
  }
}

async function exitsBefore(pid: number, deadline: number): Promise<boolean> {
  const started = Date.now();
  while (!await processGone(pid)) {
    // A zombie has exited but still answers to signal 0: look at its state once in a while.
    if (Date.now() - started > 250 && await isZombie(pid)) return true;
    if (Date.now() > deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/** Whether no process `pid` exists (signal 0 finds none, or it belongs to someone else). */
export async function processGone(pid: number): Promise<boolean> {
  if (Deno.build.os === "windows") {
    const output = await new Deno.Command("tasklist", {
      args: ["/FI", `PID eq ${pid}`, "/NH", "/FO", "CSV"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return !new TextDecoder().decode(output.stdout).includes(`"${pid}"`);
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ESRCH" || code === "EPERM") return true;
    throw error;
  }
}

async function isZombie(pid: number): Promise<boolean> {
  if (Deno.build.os === "windows") return false;
  const output = await new Deno.Command("ps", {
    args: ["-o", "stat=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  const state = new TextDecoder().decode(output.stdout).trim();
  return state === "" || state.startsWith("Z");
}

/**
 * Live processes whose environment names `dbPath` as CLAUDE_PEERS_DB, that is, processes a
 * test started and the brokers they started, found with `ps`; on Windows always empty.
 */
export async function processesStartedWith(dbPath: string): Promise<number[]> {
  if (Deno.build.os === "windows") return [];
  // procps prints the environment after the command with `e`, BSD ps (macOS) with -E.
  const args = Deno.build.os === "linux"
    ? ["-e", "-ww", "-o", "pid=,stat=,args=", "e"]
    : ["-A", "-ww", "-E", "-o", "pid=,stat=,args="];
  const output = await new Deno.Command("ps", { args, stdout: "piped", stderr: "null" }).output();
  const marker = ` CLAUDE_PEERS_DB=${dbPath}`;
  const found: number[] = [];
  for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
    const [, pid, state, rest] = line.match(/^\s*(\d+)\s+(\S+)\s(.*)$/) ?? [];
    if (!pid || !rest || state?.startsWith("Z") || Number(pid) === Deno.pid) continue;
    const at = rest.indexOf(marker);
    const next = rest[at + marker.length];
    if (at >= 0 && (next === undefined || next === " ")) found.push(Number(pid));
  }
  return found;
}

/** On Windows, a fresh spawn lock is the only sign of a broker that is still starting. */
async function spawnLockIsFresh(dbPath: string): Promise<boolean> {
  if (Deno.build.os !== "windows") return false;
  const lock = join(`${dbPath}.d`, "spawn.lock");
  const modified = (await Deno.stat(lock).catch(() => null))?.mtime?.getTime();
  return modified !== undefined && Date.now() - modified < FRESH_LOCK_MS;
}

function portIsFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

function killQuietly(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* already gone */ }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
