/**
 * How our own clients reach the broker: straight to its inner server's Unix socket
 * (`<stateDir>/broker-<port>.sock`, reachable by this user only through the owner-only state
 * directory) when it answers, past the connection gate and its costs; over TCP to
 * `config.brokerUrl` otherwise (no socket, a stale one of a dead broker, Windows, a state path
 * too long for a socket). The URL stays `http://127.0.0.1:<port>/...` on both routes, so the
 * broker sees the same Host either way.
 *
 * @module
 */
import { type Config, joinPath } from "./config.ts";

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

/**
 * One request to the broker by `route`. A Unix-socket request gets an HTTP client of its own,
 * closed once the reply's head is in (the body still arrives): nothing outlives the call.
 */
export async function fetchBroker(
  config: Pick<Config, "stateDir" | "port" | "brokerUrl">,
  route: BrokerRoute,
  path: string,
  init: RequestInit,
): Promise<Response> {
  const url = `${config.brokerUrl}${path}`;
  const socket = route === "unix" ? clientSocketPath(config) : null;
  if (socket === null) return await fetch(url, init);
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  try {
    return await fetch(url, { ...init, client });
  } finally {
    client.close();
  }
}

/**
 * A request without credentials or effects (the broker's proof) by the Unix socket when it
 * answers, else by TCP; says which route answered, the one later credentialed calls take.
 */
export async function fetchBrokerFirst(
  config: Pick<Config, "stateDir" | "port" | "brokerUrl">,
  path: string,
  init: RequestInit,
): Promise<{ response: Response; route: BrokerRoute }> {
  if (clientSocketPath(config) !== null) {
    try {
      return { response: await fetchBroker(config, "unix", path, init), route: "unix" };
    } catch (error) {
      // The caller gave up: no second try. Anything else (no socket, refused): TCP.
      if (init.signal?.aborted) throw error;
    }
  }
  return { response: await fetchBroker(config, "tcp", path, init), route: "tcp" };
}
