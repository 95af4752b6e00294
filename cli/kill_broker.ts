/**
 * `claude-peers kill-broker`: ask the broker to shut down over its own API and wait until
 * its port is free and its process has exited. No lsof, no killing by port.
 *
 * @module
 */
import type { Config } from "../broker/config.ts";
import { BrokerClient, BrokerUnavailableError } from "../broker/client.ts";
import { ps } from "../broker/processes.ts";
import { print } from "./fail.ts";
import { type Command, parseNoArguments } from "./command.ts";

/** `claude-peers kill-broker`. */
export const killBrokerCommand: Command = {
  name: "kill-broker",
  summary: "stop the broker cleanly",
  help: `Usage: claude-peers kill-broker

Asks the broker to shut down cleanly and waits until it has exited. Queued messages
stay in the database; the next claude-peers command starts a new broker.`,
  run: runKillBroker,
};

async function runKillBroker(args: string[], config: Config): Promise<number> {
  await parseNoArguments(args);
  return await stopBroker(config);
}

const WAIT_MS = 10_000;

/**
 * Stops the broker (if one runs) and waits until its port is free and its process has exited:
 * it frees the port first and then finishes its replies, and a broker started meanwhile would
 * share the database with it. Returns the exit code.
 */
export async function stopBroker(config: Config): Promise<number> {
  const client = new BrokerClient(config);
  let pid: number;
  try {
    await client.health();
    pid = (await client.status()).pid;
  } catch (error) {
    if (!(error instanceof BrokerUnavailableError)) throw error;
    print(`No broker is running on port ${config.port}.`);
    return 0;
  }
  await client.shutdown();
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if (portIsFree(config.port) && await exited(pid)) {
      print(`Broker on port ${config.port} stopped.`);
      return 0;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`The broker on port ${config.port} did not stop within ${WAIT_MS} ms`);
}

/** Whether `pid` has exited (a zombie has); true where that cannot be told (no `ps`). */
async function exited(pid: number): Promise<boolean> {
  const state = await ps(pid, "stat=");
  return state === null || state.startsWith("Z");
}

function portIsFree(port: number): boolean {
  try {
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    listener.close();
    return true;
  } catch {
    return false;
  }
}
