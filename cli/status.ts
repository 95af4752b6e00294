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

/** Help for `status`. */
export const STATUS_HELP = `Usage: claude-peers status

Shows whether the broker is running, its URL, database, uptime and peers.
Exits 1 when no broker is running.`;

/** Prints the broker's state; returns the exit code. */
export async function statusCommand(config: Config): Promise<number> {
  const client = new BrokerClient(config);
  try {
    await client.health();
  } catch (error) {
    if (!(error instanceof BrokerUnavailableError)) throw error;
    print(`Broker:   not running (${config.brokerUrl})`);
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
