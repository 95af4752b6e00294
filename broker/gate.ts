/**
 * The connection gate: the broker's public TCP listener. `Deno.serve` has no header timeout
 * and no per-connection hooks, so the gate accepts every connection itself and pipes it to the
 * real server on a Unix socket in the owner-only state directory. Connections that have not
 * authenticated are watched: a header timeout, an idle timeout, a cap with the oldest dropped
 * first, and a share of the file descriptors. A failing accept (out of descriptors) is logged
 * once per burst, sheds the oldest unauthenticated connections and is retried; it never ends
 * the process. Trusted connections (streams, waits) are never timed out or shed. A connection
 * whose first head carries the credentials may first be asked who its client is (`checkClient`,
 * another user's on Linux): a refused one gets 403, logged once per burst, and nothing is piped.
 *
 * @module
 */
import { GateConnection } from "./gate_connection.ts";
import type { GateCredentials } from "./request_head.ts";
import { errorMessage, log } from "./log.ts";

/** How the gate listens and what it allows. */
export interface GateOptions {
  /** Loopback address to listen on. */
  hostname: string;
  port: number;
  credentials: GateCredentials;
  /** Opens a connection to the inner server. */
  connectInner: () => Promise<Deno.Conn>;
  /** From the first byte of a request head to the end of it (and its body), in ms. */
  headerTimeoutMs: number;
  /** Longest silence, either way, on an unauthenticated connection, in ms. */
  idleTimeoutMs: number;
  /**
   * Whether a connection whose first head carries the credentials may use them: a reason to
   * refuse it, or null. @default every connection may
   */
  checkClient?: (conn: Deno.Conn) => Promise<string | null>;
  /** Unauthenticated connections held at once; the oldest goes first. @default 128 */
  maxUnauthenticated?: number;
  /** File descriptors the gate may hold (one per connection, three once piped). @default no limit */
  descriptorBudget?: number;
  /** Where connections come from (tests pass their own). @default Deno.listen on hostname:port */
  listener?: Deno.Listener;
}

const MAX_BACKOFF_MS = 500;
/** Drops closer together than this are one burst, logged once. */
const BURST_MS = 10_000;

/** The broker's public listener. */
export class ConnectionGate {
  #listener: Deno.Listener;
  #options: GateOptions;
  #maxUnauthenticated: number;
  #budget: number;
  #connections = new Set<GateConnection>();
  #running = new Set<Promise<void>>();
  /** Insertion order is age: the first is the oldest. */
  #unauthenticated = new Set<GateConnection>();
  #descriptors = 0;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  #failedAccepts = 0;
  #lastShedAt = -Infinity;
  #lastFailureAt = -Infinity;
  #lastRefusedAt = -Infinity;

  #accepting: Promise<void>;
  #drained = Promise.withResolvers<void>();

  /** Listens on `options.port`; throws Deno.errors.AddrInUse when it is taken. */
  constructor(options: GateOptions) {
    this.#options = options;
    this.#maxUnauthenticated = options.maxUnauthenticated ?? 128;
    this.#budget = options.descriptorBudget ?? Infinity;
    this.#listener = options.listener ??
      Deno.listen({ hostname: options.hostname, port: options.port });
    this.#accepting = this.#acceptLoop();
  }

  /** File descriptors the gate may hold from now on. */
  set descriptorBudget(budget: number) {
    this.#budget = budget;
    this.#shedOverBudget();
  }

  /** The port it listens on. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** Connections open now, and how many of them have not authenticated. */
  get counts(): { open: number; unauthenticated: number } {
    return { open: this.#connections.size, unauthenticated: this.#unauthenticated.size };
  }

  /** Stops accepting; open connections go on. */
  async stopAccepting(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    await this.#accepting;
  }

  /** Resolves once no connection is open (after {@link stopAccepting}). */
  drained(): Promise<void> {
    if (this.#connections.size === 0) this.#drained.resolve();
    return this.#drained.promise;
  }

  /** Resolves once every connection's reads and writes have ended (after {@link closeAll}). */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }

  /** Closes every connection at once, trusted ones included. */
  closeAll(): void {
    for (const connection of [...this.#connections]) connection.close();
    this.#stopSweep();
  }

  async #acceptLoop(): Promise<void> {
    let backoffMs = 0;
    while (!this.#stopped) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#stopped) return;
        this.#acceptFailed(error);
        backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(10, backoffMs * 2));
        await sleep(backoffMs);
        continue;
      }
      backoffMs = 0;
      if (this.#failedAccepts > 0 && Date.now() - this.#lastFailureAt > 1_000) {
        log(`accepting connections again (${this.#failedAccepts} accepts had failed)`);
        this.#failedAccepts = 0;
      }
      // A closed connection frees its descriptor once its pending read is cancelled, a turn of
      // the event loop later: let that happen before taking the next one.
      let shed = false;
      try {
        shed = this.#admit(conn);
      } catch (error) {
        // The client reset it already; the loop must go on whatever happens to one connection.
        log(`could not take a connection: ${errorMessage(error)}`);
        try {
          conn.close();
        } catch { /* closed */ }
      }
      if (shed) await sleep(0);
    }
  }

  /** Out of descriptors, most likely: make room by dropping the oldest unauthenticated. */
  #acceptFailed(error: unknown): void {
    const now = Date.now();
    if (now - this.#lastFailureAt > BURST_MS) {
      log(
        `cannot accept a connection (${
          errorMessage(error)
        }): dropping the oldest unauthenticated connections, retrying`,
      );
    }
    this.#lastFailureAt = now;
    this.#failedAccepts++;
    this.#shed(Math.max(1, Math.ceil(this.#unauthenticated.size / 4)));
  }

  /** Takes a new connection; returns whether older ones were dropped for it. */
  #admit(conn: Deno.Conn): boolean {
    if (this.#stopped) {
      conn.close();
      return false;
    }
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    const connection = new GateConnection(conn, {
      credentials: this.#options.credentials,
      connectInner: this.#options.connectInner,
      ...(this.#options.checkClient && {
        checkClient: this.#options.checkClient,
        onRefused: (_refused: GateConnection, reason: string) => this.#refused(reason),
      }),
      onTrusted: (trusted) => this.#unauthenticated.delete(trusted),
      onInner: () => {
        this.#descriptors += 2;
        this.#shedOverBudget();
      },
      onClosed: (closed) => this.#forget(closed),
    });
    this.#connections.add(connection);
    this.#unauthenticated.add(connection);
    this.#descriptors += 1;
    const before = this.#connections.size;
    if (this.#unauthenticated.size > this.#maxUnauthenticated) this.#shed(1);
    this.#shedOverBudget();
    const shed = this.#connections.size < before;
    if (!this.#connections.has(connection)) return shed;
    this.#startSweep();
    const running = connection.run();
    this.#running.add(running);
    running.finally(() => this.#running.delete(running));
    return shed;
  }

  /** A connection's credentials were refused; logged once per burst. */
  #refused(reason: string): void {
    const now = Date.now();
    if (now - this.#lastRefusedAt > BURST_MS) {
      log(`refused a connection that carried this user's credentials: ${reason}`);
    }
    this.#lastRefusedAt = now;
  }

  #forget(connection: GateConnection): void {
    if (!this.#connections.delete(connection)) return;
    this.#unauthenticated.delete(connection);
    this.#descriptors -= connection.piped ? 3 : 1;
    if (this.#unauthenticated.size === 0) this.#stopSweep();
    if (this.#stopped && this.#connections.size === 0) this.#drained.resolve();
  }

  #shedOverBudget(): void {
    while (this.#descriptors > this.#budget && this.#unauthenticated.size > 0) this.#shed(1);
  }

  /** Drops the `count` oldest unauthenticated connections; logs once per burst. */
  #shed(count: number): void {
    const now = Date.now();
    if (now - this.#lastShedAt > BURST_MS) {
      log(
        `too many connections without credentials (${this.#unauthenticated.size} open, ${this.#descriptors} descriptors in use): dropping the oldest`,
      );
    }
    this.#lastShedAt = now;
    for (const connection of [...this.#unauthenticated].slice(0, count)) connection.close();
  }

  /** One timer for every unauthenticated connection, running only while there are some. */
  #startSweep(): void {
    if (this.#sweep !== undefined) return;
    const { headerTimeoutMs, idleTimeoutMs } = this.#options;
    const every = Math.min(500, Math.max(20, Math.min(headerTimeoutMs, idleTimeoutMs) / 10));
    this.#sweep = setInterval(() => this.#closeExpired(Date.now()), every);
  }

  #stopSweep(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  #closeExpired(now: number): void {
    const { headerTimeoutMs, idleTimeoutMs } = this.#options;
    for (const connection of [...this.#unauthenticated]) {
      const started = connection.requestStartedAt;
      if (
        now - connection.lastActivity > idleTimeoutMs ||
        (started !== undefined && now - started > headerTimeoutMs)
      ) {
        connection.close();
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
