/**
 * The live event hub: nothing built while nobody listens, a bounded buffer per subscriber with
 * a `lagged` marker, and, served over a real socket, a reader that stops reading does not make
 * the broker hold more than that buffer and the socket's.
 *
 * @module
 */
import assert from "node:assert/strict";
import { EventHub } from "../broker/events.ts";
import { createBrokerCore } from "../broker/core.ts";

async function readLines(reader: ReadableStreamDefaultReader<Uint8Array>, count: number) {
  const lines: Record<string, unknown>[] = [];
  const decoder = new TextDecoder();
  let buffered = "";
  while (lines.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    lines.push(...parts.map((line) => JSON.parse(line)));
  }
  return lines;
}

Deno.test("a subscriber that does not read holds a bounded buffer and is told what it missed", async () => {
  const hub = new EventHub({ bufferLimit: 100 });
  let built = 0;
  const event = (n: number) => () => {
    built++;
    return { type: "summary_changed" as const, at: "t", peer_id: "aaaaaaaa", summary: `s${n}` };
  };
  hub.emit(event(-1));
  assert.equal(built, 0, "nobody listens: the event is not even built");
  const stream = hub.subscribe({ type: "hello", at: "t", version: "0" });
  for (let n = 0; n < 5_000; n++) hub.emit(event(n));
  const reader = stream.getReader();
  const lines = await readLines(reader, 1 + 99 + 1);
  // The hello and 99 events fill the buffer of 100; the other 4,901 are counted, not kept.
  assert.equal(lines[0]!.type, "hello");
  assert.equal(lines[99]!.summary, "s98");
  assert.deepEqual({ type: lines[100]!.type, dropped: lines[100]!.dropped }, {
    type: "lagged",
    dropped: 4_901,
  });
  hub.emit(event(5_000));
  const [next] = await readLines(reader, 1);
  assert.equal(next!.summary, "s5000");
  hub.closeAll();
  assert.equal((await reader.read()).done, true);
  assert.equal(hub.subscribers, 0);
});

Deno.test("a tail that stops reading costs the broker its buffer, not every event", async () => {
  const kv = await Deno.openKv(":memory:");
  const core = await createBrokerCore(kv, {
    secret: "s",
    port: 7899,
    dbPath: ":memory:",
    leaseMs: 30_000,
    retentionMs: 3_600_000,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, core.handle);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    await conn.write(new TextEncoder().encode(
      "GET /events HTTP/1.1\r\nHost: 127.0.0.1:7899\r\nAuthorization: Bearer s\r\n\r\n",
    ));
    const hub = core.context.events;
    const deadline = Date.now() + 5_000;
    while (hub.subscribers === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(hub.subscribers, 1);
    // 100 MB of events while the reader reads nothing.
    const summary = "x".repeat(500);
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 1_000; i++) {
        hub.emit(() => ({ type: "summary_changed", at: "t", peer_id: "aaaaaaaa", summary }));
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    // What reached the reader: the buffer and what the socket held, then the marker.
    const buffer = new Uint8Array(1 << 20);
    let text = "";
    while (!/"dropped":\d+/.test(text)) {
      const read = await Promise.race([
        conn.read(buffer),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 2_000)),
      ]);
      if (read === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, read));
    }
    const dropped = Number(text.match(/"dropped":(\d+)/)?.[1]);
    assert.ok(dropped > 150_000, `dropped ${dropped}`);
    assert.ok(text.length < 30_000_000, `${text.length} bytes were held for the reader`);
  } finally {
    conn.close();
    core.close();
    await server.shutdown();
    kv.close();
  }
});
