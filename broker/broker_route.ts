/**
 * How our own clients reach the broker: straight to its inner server's Unix socket
 * (`<stateDir>/broker-<port>.sock`, reachable by this user only through the owner-only state
 * directory) when it answers, past the connection gate and its costs; over TCP to
 * `config.brokerUrl` otherwise (no socket, a stale one of a dead broker, Windows, a state path
 * too long for a socket). The URL stays `http://127.0.0.1:<port>/...` on both routes, so the
 * broker sees the same Host either way. It never decides whether a credential may go: the
 * clients do, by the route their proof came by.
 *
 * @module
 */
import { type Config, joinPath } from "./config.ts";
import { UnixHttpPool } from "./unix_http.ts";

/** sun_path holds 108 bytes on Linux, 104 on macOS, the terminating NUL included. */
export const MAX_SOCKET_PATH = 100;

/** The way a request goes to the broker. */
export type BrokerRoute = "unix" | "tcp";

/** The socket the broker for `port` serves on in `stateDir` when that path fits a socket. */
export function innerSocketPath(stateDir: string, port: number): string {
  return joinPath(stateDir, `broker-${port}.sock`);
}

/** The socket to try first, or null where only TCP can work. */
function clientSocketPath(config: Pick<Config, "stateDir" | "port">): string | null {
  if (Deno.build.os === "windows") return null;
  const path = innerSocketPath(config.stateDir, config.port);
  return new TextEncoder().encode(path).byteLength <= MAX_SOCKET_PATH ? path : null;
}

/** Options for {@link BrokerTransport}. */
export interface BrokerTransportOptions {
  /**
   * Keep the Unix-socket connections open from one call to the next (one HTTP client for the
   * transport's life, closed by {@link BrokerTransport.close}); otherwise every call opens its
   * own and closes it, so nothing outlives the call. @default false
   */
  keepAlive?: boolean;
}

/**
 * The requests of one client to the broker. With `keepAlive`, calls by the Unix socket reuse
 * its connections (a new connection per call cost the client and the broker more than the call
 * itself); TCP calls go by `fetch`'s own pool either way.
 */
export class BrokerTransport implements Disposable {
  #config: Pick<Config, "stateDir" | "port" | "brokerUrl">;
  #socket: string | null;
  #keepAlive: boolean;
  #client: Deno.HttpClient | undefined;
  #pool: UnixHttpPool | undefined;
  #closed = false;

  constructor(
    config: Pick<Config, "stateDir" | "port" | "brokerUrl">,
    options: BrokerTransportOptions = {},
  ) {
    this.#config = config;
    this.#socket = clientSocketPath(config);
    this.#keepAlive = options.keepAlive ?? false;
  }

  /**
   * One request to the broker by `route`. A `streamed` reply (read as it comes, for as long
   * as it lasts) goes by `fetch` always; any other reply of a kept-alive transport's Unix-socket
   * call is read whole by a {@link UnixHttpPool}, which costs the client a fraction of `fetch`.
   */
  async fetch(
    route: BrokerRoute,
    path: string,
    init: RequestInit,
    streamed = false,
  ): Promise<Response> {
    const url = `${this.#config.brokerUrl}${path}`;
    if (route === "tcp" || this.#socket === null) return await fetch(url, init);
    if (this.#keepAlive && !this.#closed) {
      const body = init.body;
      if (!streamed && (body === undefined || typeof body === "string")) {
        this.#pool ??= new UnixHttpPool(this.#socket, new URL(this.#config.brokerUrl).host);
        const headers = new Headers(init.headers);
        return await this.#pool.request(
          init.method ?? "GET",
          path,
          headers,
          body,
          init.signal ?? undefined,
        );
      }
      this.#client ??= unixClient(this.#socket);
      return await fetch(url, { ...init, client: this.#client });
    }
    // Closed once the reply's head is in (the body still arrives): nothing outlives the call.
    const client = unixClient(this.#socket);
    try {
      return await fetch(url, { ...init, client });
    } finally {
      client.close();
    }
  }

  /**
   * A request without credentials or effects (the broker's proof) by the Unix socket when it
   * answers, else by TCP; says which route answered, the one later credentialed calls take.
   * When TCP answered, the socket is asked once more: a broker that is starting answers on its
   * port (the gate holds the request) before its inner server listens, and a client proven by
   * TCP then would stay on TCP, through the gate, for as long as it keeps calling.
   */
  async fetchFirst(path: string, init: RequestInit): Promise<FirstReply> {
    if (this.#socket !== null) {
      const reply = await this.#tryUnix(path, init);
      if (reply) return reply;
    }
    const response = await this.fetch("tcp", path, init);
    if (this.#socket !== null && response.ok) {
      // The gate forwarded this reply from the inner server, so that one listens by now.
      const reply = await this.#tryUnix(path, init);
      if (reply) {
        await response.body?.cancel();
        return reply;
      }
    }
    return { response, route: "tcp" };
  }

  /** Closes the kept-alive connections; later calls open one each, as without `keepAlive`. */
  close(): void {
    this.#closed = true;
    this.#client?.close();
    this.#client = undefined;
    this.#pool?.close();
    this.#pool = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #tryUnix(path: string, init: RequestInit): Promise<FirstReply | null> {
    try {
      return { response: await this.fetch("unix", path, init), route: "unix" };
    } catch (error) {
      // The caller gave up: no second try. Anything else (no socket, refused): TCP.
      if (init.signal?.aborted) throw error;
      return null;
    }
  }
}

/** A proof's reply and the route it came by. */
export interface FirstReply {
  response: Response;
  route: BrokerRoute;
}

function unixClient(path: string): Deno.HttpClient {
  return Deno.createHttpClient({ proxy: { transport: "unix", path } });
}
