/**
 * The real HTTP server behind the connection gate: `Deno.serve` on a Unix socket that only the
 * user can reach (in the owner-only state directory, or in an owner-only temp directory when
 * that path is too long for a socket). `Deno.serve` stops serving for good when one accept
 * fails (out of descriptors); the server is then started again on the same socket, and the
 * connections it already had keep going.
 *
 * @module
 */
import { joinPath } from "./config.ts";
import { errorMessage, log } from "./log.ts";
import { innerSocketPath, MAX_SOCKET_PATH } from "./broker_route.ts";

const RESTART_MS = 50;

/** The inner server: where it listens, and how to stop it. */
export class InnerServer {
  /** The socket the gate connects to. */
  readonly path: string;
  #handler: Deno.ServeHandler;
  #servers: Deno.HttpServer[] = [];
  #stopping = false;
  #tempDir: string | undefined;
  #finished: Promise<void> | undefined;
  /** The socket file this server made: a broker started after it may have put its own there. */
  #socket: { dev: number; ino: number | null } | undefined;

  private constructor(path: string, handler: Deno.ServeHandler, tempDir: string | undefined) {
    this.path = path;
    this.#handler = handler;
    this.#tempDir = tempDir;
  }

  /**
   * Serves `handler` on a socket named for `port` in `stateDir` (owner-only), or in a fresh
   * owner-only temp directory when that path is too long for a socket or cannot hold one.
   */
  static async start(
    stateDir: string,
    port: number,
    handler: Deno.ServeHandler,
  ): Promise<InnerServer> {
    // The path our own clients try first (broker_route.ts).
    const path = innerSocketPath(stateDir, port);
    if (new TextEncoder().encode(path).byteLength <= MAX_SOCKET_PATH) {
      try {
        const server = new InnerServer(path, handler, undefined);
        await server.#serve();
        return server;
      } catch (error) {
        log(`cannot serve on "${path}" (${errorMessage(error)}): using a temp directory`);
      }
    }
    // makeTempDir creates the directory with mode 0700.
    const tempDir = await Deno.makeTempDir({ dir: "/tmp", prefix: "claude-peers-sock-" });
    const server = new InnerServer(joinPath(tempDir, "broker.sock"), handler, tempDir);
    try {
      await server.#serve();
    } catch (error) {
      await server.remove();
      throw error;
    }
    return server;
  }

  /** Opens a connection to the server. */
  connect(): Promise<Deno.Conn> {
    return Deno.connect({ transport: "unix", path: this.path });
  }

  /** Shuts every server down gracefully; resolves when their connections are done. */
  shutdown(): Promise<void> {
    this.#stopping = true;
    this.#finished ??= Promise.all(
      this.#servers.map((server) => server.shutdown().catch(() => {})),
    ).then(() => {});
    return this.#finished;
  }

  /**
   * Removes the socket (and its temp directory), unless the file at its path is no longer the
   * one this server made: a broker that started while this one was stopping serves there now.
   */
  async remove(): Promise<void> {
    if (this.#tempDir) {
      await Deno.remove(this.#tempDir, { recursive: true }).catch(() => {});
      return;
    }
    const now = await Deno.lstat(this.path).catch(() => null);
    if (!now || !sameFile(now, this.#socket)) return;
    await Deno.remove(this.path).catch(() => {});
  }

  async #serve(): Promise<void> {
    // Left by a broker that was killed: the port was free, so no live broker owns it.
    await Deno.remove(this.path).catch(() => {});
    const server = Deno.serve({ path: this.path, onListen: () => {} }, this.#handler);
    this.#servers.push(server);
    const made = await Deno.lstat(this.path).catch(() => null);
    this.#socket = made ? { dev: made.dev, ino: made.ino } : undefined;
    server.finished.catch((error) => {
      if (this.#stopping) return;
      log(`the HTTP server stopped accepting (${errorMessage(error)}): starting it again`);
      this.#restart();
    });
  }

  #restart(): void {
    setTimeout(() => {
      if (this.#stopping) return;
      this.#serve().catch((error) => {
        log(`could not start the HTTP server again (${errorMessage(error)}): retrying`);
        this.#restart();
      });
    }, RESTART_MS);
  }
}

/** Whether `info` is the file `made` describes (no identity known: treat it as ours). */
function sameFile(info: Deno.FileInfo, made: { dev: number; ino: number | null } | undefined) {
  if (!made || made.ino === null || info.ino === null) return true;
  return info.dev === made.dev && info.ino === made.ino;
}
