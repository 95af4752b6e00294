/**
 * StdioTransport (mcp/stdio.ts), the MCP server's stdio on Deno's own streams: lines cut right
 * wherever the chunks break, bad lines reported without losing the next, a runaway line refused,
 * writes whole and in order, and one close when stdin ends. The real server over real stdio is
 * covered by every test that spawns `claude-peers mcp`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { type ByteWriter, StdioTransport } from "../mcp/stdio.ts";
import { waitFor } from "./_helpers.ts";

const encoder = new TextEncoder();

/** A stdin that yields `chunks`, then ends (or stays open with `open`). */
function input(chunks: string[], open = false): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      if (!open) controller.close();
    },
  });
}

/** A stdout that takes at most `max` bytes a write, as a pipe may. */
function output(max = Infinity): ByteWriter & { text(): string } {
  const parts: Uint8Array[] = [];
  return {
    write(bytes) {
      const taken = bytes.slice(0, Math.min(max, bytes.length));
      parts.push(taken);
      return Promise.resolve(taken.length);
    },
    text: () => new TextDecoder().decode(new Uint8Array(parts.flatMap((part) => [...part]))),
  };
}

interface Seen {
  messages: JSONRPCMessage[];
  errors: string[];
  closes: number;
}

async function run(transport: StdioTransport): Promise<Seen> {
  const seen: Seen = { messages: [], errors: [], closes: 0 };
  transport.onmessage = (message) => seen.messages.push(message);
  transport.onerror = (error) => seen.errors.push(error.message);
  transport.onclose = () => seen.closes++;
  await transport.start();
  return seen;
}

const ping = (id: number) => ({ jsonrpc: "2.0", id, method: "ping" });

Deno.test("lines split across chunks, several in one chunk and CRLF endings arrive whole and in order", async () => {
  const one = JSON.stringify(ping(1));
  const two = JSON.stringify(ping(2));
  const three = JSON.stringify(ping(3));
  const chunks = [one.slice(0, 5), one.slice(5, 9), `${one.slice(9)}\n${two}\r\n`, `${three}\n`];
  const seen = await run(new StdioTransport({ input: input(chunks), output: output() }));
  await waitFor(() => seen.closes === 1, 2_000, "the close at the end of stdin");
  assert.deepEqual(seen.messages, [ping(1), ping(2), ping(3)]);
  assert.deepEqual(seen.errors, []);
});

Deno.test("a line that is not JSON-RPC is reported and the next line still arrives", async () => {
  const chunks = [
    "not json\n",
    `${JSON.stringify({ hello: "world" })}\n`,
    "\n",
    `${JSON.stringify(ping(7))}\n`,
  ];
  const seen = await run(new StdioTransport({ input: input(chunks), output: output() }));
  await waitFor(() => seen.closes === 1, 2_000, "the close at the end of stdin");
  assert.equal(seen.errors.length, 2, seen.errors.join("; "));
  assert.deepEqual(seen.messages, [ping(7)]);
});

Deno.test("a line longer than the limit is an error and closes the transport", async () => {
  const transport = new StdioTransport({
    input: input(["x".repeat(600), "y".repeat(600)], true),
    output: output(),
    maxLineBytes: 1_000,
  });
  const seen = await run(transport);
  await waitFor(() => seen.closes === 1, 2_000, "the close after the runaway line");
  assert.match(seen.errors.join(), /exceeds 1000 bytes/);
  await assert.rejects(transport.send(ping(1)), /closed/);
  assert.equal(seen.closes, 1);
});

Deno.test("messages go out whole, newline-delimited and in order, through short writes", async () => {
  const stdout = output(7);
  const transport = new StdioTransport({ input: input([], true), output: stdout });
  await run(transport);
  await Promise.all([1, 2, 3].map((id) => transport.send(ping(id) as JSONRPCMessage)));
  assert.equal(stdout.text(), [1, 2, 3].map((id) => `${JSON.stringify(ping(id))}\n`).join(""));
  await transport.close();
});

Deno.test("closing reports one close, even when stdin ends afterwards", async () => {
  const transport = new StdioTransport({ input: input([], true), output: output() });
  const seen = await run(transport);
  await transport.close();
  await transport.close();
  assert.equal(seen.closes, 1);
  assert.throws(() => {
    transport.start();
  }, /already started/);
});

Deno.test("messages sent while a write is in flight go out together in the next write, in order", async () => {
  let writes = 0;
  const release = Promise.withResolvers<void>();
  const chunks: string[] = [];
  const stdout: ByteWriter = {
    async write(bytes) {
      writes++;
      chunks.push(new TextDecoder().decode(bytes));
      if (writes === 1) await release.promise;
      return bytes.length;
    },
  };
  const transport = new StdioTransport({ input: input([], true), output: stdout });
  await run(transport);
  const first = transport.send(ping(0) as JSONRPCMessage);
  await waitFor(() => writes === 1, 1_000, "the first write");
  const rest = [1, 2, 3, 4].map((id) => transport.send(ping(id) as JSONRPCMessage));
  release.resolve();
  await Promise.all([first, ...rest]);
  assert.equal(writes, 2, "one write for the four sent meanwhile");
  assert.equal(
    chunks.join(""),
    [0, 1, 2, 3, 4].map((id) => `${JSON.stringify(ping(id))}\n`).join(""),
  );
  await transport.close();
});
