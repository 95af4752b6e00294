/**
 * listenBroker(): the broker's listener. On Linux and macOS, the connection gate on the
 * loopback port in front of the inner server on a Unix socket; on Windows (no Unix socket
 * support assumed) `Deno.serve` on the port directly, without the gate's timeouts. Either way
 * `close()` is bounded: a client that does not read never holds the broker (and its database)
 * open. On Linux the gate admits credentials only from connections of the broker's own user
 * (see {@link SocketOwners}); elsewhere, or where /proc/net/tcp cannot be read, from any local
 * user, as the secret alone decides.
 *
 * @module
 */
import { ConnectionGate } from "./gate.ts";
import { InnerServer } from "./inner_server.ts";
import type { GateCredentials } from "./request_head.ts";
import { SocketOwners } from "./socket_owners.ts";
import { log } from "./log.ts";

/** What the listener needs to know. */
export interface ListenOptions {
  port: number;
  /** The owner-only directory that holds the inner server's socket. */
  stateDir: string;
  credentials: GateCredentials;
  /** See {@link GateOptions.headerTimeoutMs}. */
  headerTimeoutMs: number;
  /** See {@link GateOptions.idleTimeoutMs}. */
  idleTimeoutMs: number;
}

/** A listening broker. */
export interface BrokerListener {
  /** Stops accepting, lets replies in flight finish (bounded), then closes every connection. */
  close: () => Promise<void>;
}

/** How long replies in flight may take to finish once the broker stops. */
const GRACE_MS = 1_000;
/** Descriptors kept free for the database, the log and the inner server's own needs. */
const MIN_SPARE_DESCRIPTORS = 48;

/** Listens on 127.0.0.1:`port`; throws Deno.errors.AddrInUse when the port is taken. */
export async function listenBroker(
  handler: Deno.ServeHandler,
  options: ListenOptions,
): Promise<BrokerListener> {
  if (Deno.build.os === "windows") {
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: options.port, onListen() {} },
      handler,
    );
    return { close: () => within(GRACE_MS * 2, server.shutdown()) };
  }
  // Claim the port first: a second broker started at the same moment stops here.
  // Assigned once, after the gate that reads it in a callback exists.
  // deno-lint-ignore prefer-const
  let starting: Promise<InnerServer> | undefined;
  // Read while the servers start: it runs `sh`, which takes a few milliseconds.
  const limit = openFileLimit();
  // Assigned once the port is ours: the lookup proves itself on the gate's own listener.
  // deno-lint-ignore prefer-const
  let owners: Promise<SocketOwners | null> | undefined;
  const uid = Deno.uid();
  const gate = new ConnectionGate({
    hostname: "127.0.0.1",
    port: options.port,
    credentials: options.credentials,
    // A request that comes while the inner server starts waits for it.
    connectInner: async () => (await starting!).connect(),
    checkClient: async (conn) => refusalOf(conn, await owners!, uid),
    headerTimeoutMs: options.headerTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
  });
  owners = uid === null
    ? Promise.resolve(null)
    : SocketOwners.start({ transport: "tcp", hostname: "127.0.0.1", port: gate.port }, uid);
  starting = InnerServer.start(options.stateDir, options.port, handler);
  let server: InnerServer;
  let lookups: SocketOwners | null;
  try {
    server = await starting;
    gate.descriptorBudget = descriptorBudget(await limit);
    lookups = await owners;
  } catch (error) {
    await gate.stopAccepting();
    gate.closeAll();
    await (await owners.catch(() => null))?.close();
    throw error;
  }
  if (lookups === null && Deno.build.os === "linux") {
    log(
      "cannot tell which user a connection comes from (/proc/net/tcp cannot be read): credentials are accepted from any local user",
    );
  }
  return {
    async close() {
      await gate.stopAccepting();
      const finished = server.shutdown();
      await within(GRACE_MS, finished);
      await within(GRACE_MS / 2, gate.drained());
      gate.closeAll();
      await within(GRACE_MS / 2, finished);
      await server.remove();
      await lookups?.close();
    },
  };
}

/** Why `conn` may not use credentials: its client is not the broker's user (`uid`). */
async function refusalOf(
  conn: Deno.Conn,
  owners: SocketOwners | null,
  uid: number | null,
): Promise<string | null> {
  // No lookup here (not Linux, no /proc): the secret alone decides, as it always did.
  if (owners === null || uid === null) return null;
  const client = conn.remoteAddr as Deno.NetAddr;
  const owner = await owners.ownerOf(client, conn.localAddr as Deno.NetAddr);
  const from = `${client.hostname}:${client.port}`;
  if (owner === null) return `no open socket at ${from} was found (it closed first)`;
  if (owner.uid !== uid) {
    return `${from} belongs to user ${owner.uid}, and this broker serves user ${uid} only`;
  }
  return null;
}

/** The descriptors the gate may hold: the limit less a spare share for everything else. */
function descriptorBudget(limit: number): number {
  if (!Number.isFinite(limit)) return Infinity;
  return Math.max(16, limit - Math.max(MIN_SPARE_DESCRIPTORS, Math.floor(limit / 8)));
}

/** The soft limit on open files, as a child inherits it (Deno raises it at start). */
async function openFileLimit(): Promise<number> {
  try {
    const output = await new Deno.Command("sh", {
      args: ["-c", "ulimit -n"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const value = Number(new TextDecoder().decode(output.stdout).trim());
    return Number.isInteger(value) && value > 0 ? value : Infinity;
  } catch {
    return Infinity;
  }
}

/** Waits for `promise`, but no longer than `ms`. */
async function within(ms: number, promise: Promise<unknown>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    promise.catch(() => {}),
    new Promise((resolve) => timer = setTimeout(resolve, ms)),
  ]);
  clearTimeout(timer);
}
