/**
 * `claude-peers status`: broker up or down, where, since when, and its peers. It only
 * reports: it never starts a broker.
 *
 * @module
 */
import type { Config } from "../broker/config.ts";
import { BrokerClient, BrokerUnavailableError } from "../broker/client.ts";
import { duration, peersTable } from "./format.ts";
import { print } from "./fail.ts";
import { type Command, parseNoArguments } from "./command.ts";

/** `claude-peers status`. */
export const statusCommand: Command = {
  name: "status",
  summary: "show whether the broker runs, and its peers",
  help: `Usage: claude-peers status

Shows whether the broker is running, its URL, database, uptime and peers.
Exits 1 when no broker is running.`,
  run: runStatus,
};

async function runStatus(args: string[], config: Config): Promise<number> {
  await parseNoArguments(args);
  const client = new BrokerClient(config);
  try {
    await client.health();
  } catch (error) {
    if (!(error instanceof BrokerUnavailableError)) throw error;
    const timedOut = error.cause instanceof DOMException && error.cause.name === "TimeoutError";
    print(timedOut ? `Broker:   ${error.message}` : `Broker:   not running (${config.brokerUrl})`);
    print(`Database: ${config.dbPath}`);
    return 1;
  }
  const [status, { peers }] = await Promise.all([client.status(), client.listPeers("machine")]);
  print(`Broker:   running (${config.brokerUrl}, pid ${status.pid}, version ${status.version})`);
  print(`Database: ${status.db_path}`);
  print(`Uptime:   ${duration(status.uptime_ms)}`);
  print(`Peers:    ${status.peer_count}`);
  if (peers.length > 0) print(`\n${peersTable(peers)}`);
  return 0;
}
