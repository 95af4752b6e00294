/**
 * StdioTransport: the MCP server's end of stdio, on Deno's own stdin and stdout. The SDK's
 * StdioServerTransport reads and writes through node:process streams, which cost every MCP
 * server about 2.5 MB (issue 11); this one only cuts lines and writes bytes, and leaves each
 * message to the SDK (`deserializeMessage` checks it against the SDK's JSON-RPC schema,
 * `serializeMessage` writes it). It never writes anything but protocol messages to stdout.
 *
 * @module
 */
import { deserializeMessage, serializeMessage } from "../broker/_vendor/mcp_sdk.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { type ByteWriter, concatBytes, writeAll } from "../broker/bytes.ts";

/** The longest line read, as the SDK's own stdio transport allows. */
export const MAX_LINE_BYTES = 10 * 1024 * 1024;

const NEWLINE = 0x0a;

/** Where the transport writes: `Deno.stdout`, or a test's writer. */
export type { ByteWriter };

/** Options for {@link StdioTransport}. */
export interface StdioTransportOptions {
  /** What the client writes. @default Deno.stdin.readable */
  input?: ReadableStream<Uint8Array>;
  /** Where messages go. @default Deno.stdout */
  output?: ByteWriter;
  /** The longest line accepted; a longer one is an error and closes the transport. @default MAX_LINE_BYTES */
  maxLineBytes?: number;
}

/** Newline-delimited JSON-RPC over stdin/stdout; closes when stdin ends. */
export class StdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  #input: ReadableStream<Uint8Array>;
  #output: ByteWriter;
  #maxLineBytes: number;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #writing: Promise<void> = Promise.resolve();
  /** Lines waiting for the write after the one in flight, and that write. */
  #queued: string[] | null = null;
  #queuedWrite: Promise<void> | undefined;
  #decoder = new TextDecoder();
  #encoder = new TextEncoder();
  #started = false;
  #closed = false;

  constructor(options: StdioTransportOptions = {}) {
    this.#input = options.input ?? Deno.stdin.readable;
    this.#output = options.output ?? Deno.stdout;
    this.#maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  }

  /** Starts reading; Protocol.connect() calls it. */
  start(): Promise<void> {
    if (this.#started) throw new Error("StdioTransport already started");
    this.#started = true;
    this.#reader = this.#input.getReader();
    this.#read(this.#reader);
    return Promise.resolve();
  }

  /**
   * Writes one message; messages go out whole and in the order sent. Those sent while a write
   * is in flight go out together in the next one: one write per burst, not per message.
   */
  send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("StdioTransport is closed"));
    const line = serializeMessage(message);
    if (this.#queued === null) {
      const queued: string[] = [];
      this.#queued = queued;
      const written = this.#writing.then(() => {
        this.#queued = null;
        return writeAll(this.#output, this.#encoder.encode(queued.join("")));
      });
      this.#writing = written.catch(() => {});
      this.#queuedWrite = written;
    }
    this.#queued.push(line);
    return this.#queuedWrite!;
  }

  /** Stops reading and reports the close once. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#reader?.cancel().catch(() => {});
    this.onclose?.();
    return Promise.resolve();
  }

  async #read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.#closed) break;
        let start = 0;
        for (let end = value.indexOf(NEWLINE); end !== -1; end = value.indexOf(NEWLINE, start)) {
          pending.push(value.subarray(start, end));
          this.#deliver(pending.length === 1 ? pending[0]! : concatBytes(pending));
          pending = [];
          pendingBytes = 0;
          start = end + 1;
        }
        if (start < value.length) {
          pending.push(value.subarray(start));
          pendingBytes += value.length - start;
          if (pendingBytes > this.#maxLineBytes) {
            throw new Error(`A message on stdin exceeds ${this.#maxLineBytes} bytes`);
          }
        }
      }
    } catch (error) {
      if (!this.#closed) this.onerror?.(error instanceof Error ? error : new Error(String(error)));
    }
    await this.close();
  }

  #deliver(line: Uint8Array): void {
    const text = this.#decoder.decode(line).replace(/\r$/, "");
    if (text.trim() === "") return;
    let message: JSONRPCMessage;
    try {
      message = deserializeMessage(text);
    } catch (error) {
      // A line that is not JSON-RPC is the client's error; the next line may be fine.
      this.onerror?.(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.onmessage?.(message);
  }
}
