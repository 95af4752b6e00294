/**
 * runBroker(): claim the port, open the database, serve until told to stop.
 * The port is claimed before the database is opened, so a second broker started at the same
 * moment exits before it touches the data. Stopping is bounded: streams and connections are
 * closed within seconds whatever the clients do, then the database is closed.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { type BrokerCore, createBrokerCore } from "./core.ts";
import { hookToken, loadOrCreateSecret } from "./secret.ts";
import { errorMessage, log, rotateLog } from "./log.ts";
import { lockDatabase } from "./database_lock.ts";
import { type BrokerListener, listenBroker } from "./listen.ts";
import { json } from "./http.ts";

/** The broker could not start; the message says why and what to do. */
export class BrokerStartError extends Error {
  override name = "BrokerStartError";
}

/** Runs the broker until SIGINT, SIGTERM or POST /shutdown. */
export async function runBroker(config: Config): Promise<void> {
  const secret = await loadOrCreateSecret(config.secretPath, config.stateDir);
  const ready = Promise.withResolvers<BrokerCore>();
  // A request that came while the broker was starting is answered even when starting fails.
  ready.promise.catch(() => {});
  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  // Heard before the socket exists: a signal while the broker starts (the database may take a
  // while to open) still stops it cleanly.
  const onSignal = (signal: Deno.Signal) => () => stop(`received ${signal}`);
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const listeners = signals.map((signal) => [signal, onSignal(signal)] as const);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  const unlisten = () => {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  };
  const server = await listen(config, secret, async (request) => {
    let core: BrokerCore;
    try {
      core = await ready.promise;
    } catch {
      return json({ error: "The broker could not start", code: "internal" }, 503);
    }
    return core.handle(request);
  }).catch((error) => {
    unlisten();
    throw error;
  });
  // The port is this broker's: the log is its to keep in bounds.
  rotateLog();
  let kv: Deno.Kv;
  let lock: Deno.FsFile;
  try {
    const opening = (async () => {
      const held = await lockDatabase(config.stateDir, config.dbPath);
      try {
        return { kv: await openDatabase(config.dbPath), lock: held };
      } catch (error) {
        held.close();
        throw error;
      }
    })();
    const first = await Promise.race([opening, stopped]);
    if (typeof first === "string") {
      // Stopped before the database was open: it is closed once it opens, if it ever does.
      opening.then((opened) => {
        opened.kv.close();
        opened.lock.close();
      }, () => {});
      ready.reject(new Error(`The broker stopped while starting: ${first}`));
      log(`shutting down while starting: ${first}`);
      unlisten();
      await server.close();
      return;
    }
    ({ kv, lock } = first);
  } catch (error) {
    ready.reject(error);
    unlisten();
    await server.close();
    throw error;
  }
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
  ready.resolve(core);
  log(`listening on 127.0.0.1:${config.port} (pid ${Deno.pid}, database ${config.dbPath})`);

  const reason = await stopped;
  log(`shutting down: ${reason}`);
  unlisten();
  core.close();
  await server.close();
  kv.close();
  lock.close();
}

async function listen(
  config: Config,
  secret: string,
  handler: Deno.ServeHandler,
): Promise<BrokerListener> {
  try {
    return await listenBroker(handler, {
      port: config.port,
      stateDir: config.stateDir,
      credentials: { secret, hookToken: await hookToken(secret) },
      headerTimeoutMs: config.headerTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
    });
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new BrokerStartError(
        `Port ${config.port} is already in use: another broker is running (see "claude-peers status") or another program holds it (set CLAUDE_PEERS_PORT)`,
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
