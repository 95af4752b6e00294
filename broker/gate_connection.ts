/**
 * One client connection through the gate. Until a request head on it carries the user's
 * credentials, the gate reads it request by request (heads within a size limit, bodies by their
 * Content-Length, no chunked bodies) and the gate's timers watch it. Once a head carries them,
 * the connection is trusted and its bytes are only piped, both ways, with no timer.
 *
 * Every write is awaited before the next read, so a client that does not read stops the
 * gate reading from the broker: the broker's own backpressure (streams that stop pulling from
 * the inbox) sees the slow client. It never parses a reply and never changes a byte.
 *
 * @module
 */
import { type GateCredentials, headEnd, readRequestHead } from "./request_head.ts";
import { concatBytes, writeAll } from "./bytes.ts";

/** A request head larger than this closes an unauthenticated connection. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** The broker reads no larger body; an unauthenticated one is not forwarded. */
const MAX_UNAUTHENTICATED_BODY = 256 * 1024;
/** Reads before credentials are small: a flood of idle connections costs little memory. */
const WATCHED_CHUNK = 2 * 1024;
const REQUEST_CHUNK = 16 * 1024;
/** Small enough that a thousand open connections cost 32 MB at most. */
const REPLY_CHUNK = 16 * 1024;
const EMPTY: Uint8Array = new Uint8Array(0);
const encoder = new TextEncoder();

/** What a gate connection needs from its gate. */
export interface GateConnectionOptions {
  credentials: GateCredentials;
  /** Opens a connection to the broker's inner server. */
  connectInner: () => Promise<Deno.Conn>;
  /**
   * Asked once, at the first head with credentials: a reason to refuse the connection (its
   * client runs as another user), or null to trust it. @default trust it
   */
  checkClient?: (conn: Deno.Conn) => Promise<string | null>;
  /** The connection was refused for `reason` (from {@link checkClient}). */
  onRefused?: (connection: GateConnection, reason: string) => void;
  /** A head carried the credentials: the connection leaves the gate's watch. */
  onTrusted: (connection: GateConnection) => void;
  /** The inner connection opened (two more descriptors in use). */
  onInner: (connection: GateConnection) => void;
  /** Both sides are closed. */
  onClosed: (connection: GateConnection) => void;
}

/** One accepted connection and the gate's view of it. */
export class GateConnection {
  /** When a byte last went through, either way (for the idle timeout). */
  lastActivity: number = Date.now();
  /** When the first byte of the request being read came, or undefined between requests. */
  requestStartedAt: number | undefined;
  /** Whether a request head on it carried the credentials. */
  trusted = false;
  #outer: Deno.Conn;
  #inner: Deno.Conn | undefined;
  #options: GateConnectionOptions;
  #closed = false;
  #replying: Promise<void> | undefined;

  constructor(outer: Deno.Conn, options: GateConnectionOptions) {
    this.#outer = outer;
    this.#options = options;
  }

  /** Whether the broker side is open (the connection holds three descriptors, not one). */
  get piped(): boolean {
    return this.#inner !== undefined;
  }

  /** Serves the connection until both directions are done; never rejects. */
  async run(): Promise<void> {
    try {
      await this.#requests();
    } catch {
      // A side was reset or closed under us: the connection is over either way.
      this.close();
    }
    await this.#replying;
  }

  /** Closes both sides at once (a timeout, a shed, or the broker stopping). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#outer);
    if (this.#inner) closeQuietly(this.#inner);
    this.#options.onClosed(this);
  }

  /** The client-to-broker direction: watched request by request, then piped once trusted. */
  async #requests(): Promise<void> {
    const buffer = new Uint8Array(WATCHED_CHUNK);
    let head: Uint8Array = EMPTY;
    let bodyLeft = 0;
    while (!this.trusted) {
      const read = await this.#outer.read(buffer);
      if (read === null) return await this.#clientEnded();
      this.lastActivity = Date.now();
      let chunk: Uint8Array = buffer.subarray(0, read);
      while (chunk.length > 0 && !this.trusted) {
        if (bodyLeft > 0) {
          const take = Math.min(bodyLeft, chunk.length);
          await this.#toInner(chunk.subarray(0, take));
          bodyLeft -= take;
          chunk = chunk.subarray(take);
          if (bodyLeft === 0) this.requestStartedAt = undefined;
          continue;
        }
        this.requestStartedAt ??= this.lastActivity;
        const searchFrom = head.length - 3;
        head = concatBytes([head, chunk]);
        chunk = EMPTY;
        const end = headEnd(head, searchFrom);
        if (end < 0 || end > MAX_HEAD_BYTES) {
          if (head.length > MAX_HEAD_BYTES) {
            return await this.#refuse(431, "request head too large");
          }
          break;
        }
        const verdict = readRequestHead(head.subarray(0, end), this.#options.credentials);
        if (verdict.kind === "bad") return await this.#refuse(400, verdict.reason);
        if (verdict.authenticated) {
          // Only a head that already carries the credentials costs a lookup: junk does not.
          const refused = await this.#refusal();
          if (this.#closed) return;
          if (refused !== null) {
            this.#options.onRefused?.(this, refused);
            return await this.#refuse(403, "credentials from another user");
          }
          this.trusted = true;
          this.#options.onTrusted(this);
          await this.#toInner(head);
          break;
        }
        if (verdict.chunked) return await this.#refuse(411, "authenticate before chunked bodies");
        if (verdict.contentLength > MAX_UNAUTHENTICATED_BODY) {
          return await this.#refuse(413, "request body too large");
        }
        await this.#toInner(head.subarray(0, end));
        chunk = head.subarray(end);
        head = EMPTY;
        bodyLeft = verdict.contentLength;
        if (bodyLeft === 0) this.requestStartedAt = undefined;
      }
    }
    await pipe(this.#outer, this.#inner!, new Uint8Array(REQUEST_CHUNK));
    await this.#clientEnded();
  }

  /** Why the client may not use the credentials it sent, or null. */
  async #refusal(): Promise<string | null> {
    const check = this.#options.checkClient;
    if (!check) return null;
    try {
      return await check(this.#outer);
    } catch (error) {
      return `its owner could not be looked up (${error instanceof Error ? error.message : error})`;
    }
  }

  /** Writes to the broker side, opening it (and the reply pump) first if need be. */
  async #toInner(bytes: Uint8Array): Promise<void> {
    if (!this.#inner) {
      this.#inner = await this.#options.connectInner();
      if (this.#closed) {
        closeQuietly(this.#inner);
        return;
      }
      this.#options.onInner(this);
      this.#replying = this.#replies(this.#inner);
    }
    await writeAll(this.#inner, bytes);
  }

  /** The broker-to-client direction, piped as it comes; its end ends the connection. */
  async #replies(inner: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(REPLY_CHUNK);
    try {
      while (true) {
        const read = await inner.read(buffer);
        if (read === null) break;
        if (!this.trusted) this.lastActivity = Date.now();
        await writeAll(this.#outer, buffer.subarray(0, read));
      }
    } catch {
      // Either side went away.
    }
    this.close();
  }

  /** The client finished sending: the broker may still answer what it sent. */
  async #clientEnded(): Promise<void> {
    if (!this.#inner || this.#closed) return this.close();
    // The reply pump closes the connection when the broker is done.
    await this.#inner.closeWrite().catch(() => this.close());
  }

  /** Answers a request the gate will not forward, then closes. */
  async #refuse(status: number, reason: string): Promise<void> {
    const reply = encoder.encode(
      `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      writeAll(this.#outer, reply).catch(() => {}),
      new Promise((resolve) => timer = setTimeout(resolve, 250)),
    ]);
    clearTimeout(timer);
    this.close();
  }
}

/** Copies `from` into `to` until `from` ends, awaiting every write. */
async function pipe(from: Deno.Conn, to: Deno.Conn, buffer: Uint8Array): Promise<void> {
  while (true) {
    const read = await from.read(buffer);
    if (read === null) return;
    await writeAll(to, buffer.subarray(0, read));
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
