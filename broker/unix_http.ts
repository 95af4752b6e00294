/**
 * UnixHttpPool: HTTP/1.1 requests with whole bodies to our own broker's inner server over its
 * Unix socket, on connections kept open between calls. `fetch` costs a client several times
 * what the call itself does (a Request, header guards, body streams, its pool); a call here is
 * a write and a read or two. Only for replies read whole (a streamed reply goes by `fetch`);
 * it speaks only what `Deno.serve` answers: a status line, headers, and a body sized by
 * Content-Length or chunked. It never retries: a failed call fails, and the caller decides.
 *
 * @module
 */
import { concatBytes, writeAll } from "./bytes.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEAD_END = encoder.encode("\r\n\r\n");
const READ_CHUNK = 16 * 1024;
/** A reply head larger than this is not our broker's. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Idle connections kept; more, opened for calls made at once, are closed after them. */
const MAX_IDLE = 4;
/** Statuses whose reply has no body. */
const NO_BODY = new Set([101, 204, 205, 304]);

/** Kept-alive connections to one Unix socket. */
export class UnixHttpPool {
  #path: string;
  #host: string;
  #idle: Deno.UnixConn[] = [];
  #open = new Set<Deno.UnixConn>();
  #closed = false;

  /** Requests go to `path` and name `host` (the broker checks it). */
  constructor(path: string, host: string) {
    this.#path = path;
    this.#host = host;
  }

  /** One request; resolves with the whole reply. Rejects like `fetch` when the call fails. */
  async request(
    method: string,
    path: string,
    headers: Headers,
    body: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    signal?.throwIfAborted();
    if (this.#closed) throw new TypeError("The connection pool is closed");
    const conn = this.#idle.pop() ?? await this.#connect();
    const abort = () => closeQuietly(conn);
    signal?.addEventListener("abort", abort, { once: true });
    try {
      await writeAll(conn, encoder.encode(this.#head(method, path, headers, body)));
      const reply = await readReply(conn, method === "HEAD");
      if (reply.keepAlive && !this.#closed && this.#idle.length < MAX_IDLE) this.#idle.push(conn);
      else this.#drop(conn);
      return reply.response;
    } catch (error) {
      this.#drop(conn);
      if (signal?.aborted) throw signal.reason;
      throw new TypeError(`The broker's socket failed: ${error}`, { cause: error });
    } finally {
      signal?.removeEventListener("abort", abort);
    }
  }

  /** Closes every connection; later requests fail. */
  close(): void {
    this.#closed = true;
    for (const conn of this.#open) closeQuietly(conn);
    this.#open.clear();
    this.#idle = [];
  }

  async #connect(): Promise<Deno.UnixConn> {
    const conn = await Deno.connect({ transport: "unix", path: this.#path });
    if (this.#closed) {
      closeQuietly(conn);
      throw new TypeError("The connection pool is closed");
    }
    this.#open.add(conn);
    return conn;
  }

  #drop(conn: Deno.UnixConn): void {
    this.#open.delete(conn);
    closeQuietly(conn);
  }

  #head(method: string, path: string, headers: Headers, body: string | undefined): string {
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.#host}\r\n`;
    for (const [name, value] of headers) {
      // Headers already refuses CR and LF in names and values.
      head += `${name}: ${value}\r\n`;
    }
    if (body === undefined) return `${head}content-length: 0\r\n\r\n`;
    return `${head}content-length: ${encoder.encode(body).byteLength}\r\n\r\n${body}`;
  }
}

/** Reads one reply: its head, then its body by Content-Length or chunks. */
async function readReply(
  conn: Deno.Conn,
  head: boolean,
): Promise<{ response: Response; keepAlive: boolean }> {
  const reader = new ConnReader(conn);
  const headBytes = await reader.until(HEAD_END, MAX_HEAD_BYTES);
  const lines = decoder.decode(headBytes).split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  if (!status) throw new Error(`not an HTTP reply: ${JSON.stringify(lines[0])}`);
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const code = Number(status[1]);
  let body: Uint8Array<ArrayBuffer> | null = null;
  if (!head && !NO_BODY.has(code)) {
    const length = headers.get("content-length");
    if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
      body = await readChunked(reader);
    } else if (length !== null) {
      body = await reader.take(Number(length));
    } else {
      throw new Error("a reply without a length");
    }
  }
  const keepAlive = headers.get("connection")?.toLowerCase() !== "close" && reader.empty;
  return { response: new Response(body, { status: code, headers }), keepAlive };
}

async function readChunked(reader: ConnReader): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Uint8Array[] = [];
  while (true) {
    const sizeLine = decoder.decode(await reader.until(encoder.encode("\r\n"), 1024));
    const size = parseInt(sizeLine.split(";")[0]!, 16);
    if (!Number.isFinite(size) || size < 0) throw new Error("a malformed chunk");
    if (size === 0) {
      // Trailers (none from our broker) end with an empty line.
      while ((await reader.until(encoder.encode("\r\n"), 8192)).byteLength > 0);
      return concatBytes(parts);
    }
    parts.push(await reader.take(size));
    const end = await reader.take(2);
    if (end[0] !== 13 || end[1] !== 10) throw new Error("a chunk longer than it said");
  }
}

/** Buffered reads from a connection. */
class ConnReader {
  #conn: Deno.Conn;
  #buffer: Uint8Array<ArrayBuffer> = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Whether nothing read is left over (a reply must end where the next would begin). */
  get empty(): boolean {
    return this.#buffer.byteLength === 0;
  }

  /** The bytes before `delimiter` (which is consumed), at most `max`. */
  async until(delimiter: Uint8Array, max: number): Promise<Uint8Array<ArrayBuffer>> {
    let from = 0;
    while (true) {
      const at = indexOf(this.#buffer, delimiter, from);
      if (at >= 0) {
        const found = this.#buffer.subarray(0, at);
        this.#buffer = this.#buffer.subarray(at + delimiter.byteLength);
        return found;
      }
      if (this.#buffer.byteLength > max) throw new Error("a reply head too large");
      from = Math.max(0, this.#buffer.byteLength - delimiter.byteLength + 1);
      await this.#fill();
    }
  }

  /** Exactly `count` bytes. */
  async take(count: number): Promise<Uint8Array<ArrayBuffer>> {
    while (this.#buffer.byteLength < count) await this.#fill();
    const taken = this.#buffer.slice(0, count);
    this.#buffer = this.#buffer.subarray(count);
    return taken;
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(READ_CHUNK);
    const read = await this.#conn.read(chunk);
    if (read === null) throw new Error("the connection closed before the reply ended");
    this.#buffer = this.#buffer.byteLength === 0
      ? chunk.subarray(0, read)
      : concatBytes([this.#buffer, chunk.subarray(0, read)]);
  }
}

function indexOf(bytes: Uint8Array, delimiter: Uint8Array, from: number): number {
  const first = delimiter[0]!;
  for (let i = bytes.indexOf(first, from); i >= 0; i = bytes.indexOf(first, i + 1)) {
    if (i + delimiter.byteLength > bytes.byteLength) return -1;
    let match = true;
    for (let j = 1; j < delimiter.byteLength; j++) {
      if (bytes[i + j] !== delimiter[j]) {
        match = false;
        break;
      }
    }
    if (match) return i;
  }
  return -1;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
