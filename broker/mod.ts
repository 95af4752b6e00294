/**
 * runBroker(): claim the port, open the database, serve until told to stop.
 * The port is claimed before the database is opened, so a second broker started at the same
 * moment exits before it touches the data.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { type BrokerCore, createBrokerCore } from "./core.ts";
import { loadOrCreateSecret } from "./secret.ts";
import { errorMessage, log } from "./log.ts";

/** The broker could not start; the message says why and what to do. */
export class BrokerStartError extends Error {
  override name = "BrokerStartError";
}

/** Runs the broker until SIGINT, SIGTERM or POST /shutdown. */
export async function runBroker(config: Config): Promise<void> {
  const secret = await loadOrCreateSecret(config.secretPath, config.stateDir);
  let markReady: (core: BrokerCore) => void = () => {};
  const ready = new Promise<BrokerCore>((resolve) => markReady = resolve);
  const server = listen(config.port, async (request) => (await ready).handle(request));
  let kv: Deno.Kv;
  try {
    kv = await openDatabase(config.dbPath);
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  const core = await createBrokerCore(kv, {
    secret,
    port: config.port,
    dbPath: config.dbPath,
    leaseMs: config.leaseMs,
    retentionMs: config.retentionMs,
    historyMs: config.historyMs,
    historyMax: config.historyMax,
    requestShutdown: () => stop("shutdown requested over the API"),
  });
  markReady(core);
  const onSignal = (signal: Deno.Signal) => () => stop(`received ${signal}`);
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const listeners = signals.map((signal) => [signal, onSignal(signal)] as const);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  log(`listening on 127.0.0.1:${config.port} (pid ${Deno.pid}, database ${config.dbPath})`);

  const reason = await stopped;
  log(`shutting down: ${reason}`);
  for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  core.close();
  await server.shutdown();
  kv.close();
}

function listen(port: number, handler: Deno.ServeHandler): Deno.HttpServer {
  try {
    return Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, handler);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new BrokerStartError(
        `Port ${port} is already in use: another broker is running (see "claude-peers status") or another program holds it (set CLAUDE_PEERS_PORT)`,
      );
    }
    throw error;
  }
}

/** Opens the database, creating it owner-only; refuses (never wipes) a file it cannot read. */
async function openDatabase(path: string): Promise<Deno.Kv> {
  try {
    const file = await Deno.open(path, { create: true, write: true, mode: 0o600 });
    file.close();
    return await Deno.openKv(path);
  } catch (error) {
    throw new BrokerStartError(
      `Cannot open the database "${path}": ${
        errorMessage(error)
      }. It was left untouched; move it aside to start with an empty one`,
    );
  }
}
