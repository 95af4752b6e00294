/**
 * Runs inside the harness's loopback-only network namespace: listens on 127.0.0.1 ports and
 * pipes each connection to a Unix socket. Unix sockets live in the file system, which the
 * namespace shares with the host, so this is how Claude Code (in the namespace) reaches the
 * mock Anthropic API and any bridged port served by the test process (outside it).
 *
 * Usage: `deno run --allow-net --allow-read --allow-write netns_forward.ts '<json>'` where the
 * JSON is `[{"port": 0, "path": "/tmp/x/mock.sock"}, ...]` (port 0: any free port). Prints one
 * line `{"ports":[...]}` with the bound ports once listening, then runs until its stdin ends.
 *
 * @module
 */

const specs: { port: number; path: string }[] = JSON.parse(Deno.args[0] ?? "[]");

async function pipe(conn: Deno.Conn, path: string): Promise<void> {
  let upstream: Deno.Conn | undefined;
  try {
    upstream = await Deno.connect({ transport: "unix", path });
    await Promise.race([
      conn.readable.pipeTo(upstream.writable, { preventClose: true }),
      upstream.readable.pipeTo(conn.writable, { preventClose: true }),
    ]);
  } catch {
    // either side went away
  } finally {
    for (const side of [conn, upstream]) {
      try {
        side?.close();
      } catch {
        // already closed
      }
    }
  }
}

async function serve(listener: Deno.Listener, path: string): Promise<void> {
  for await (const conn of listener) pipe(conn, path);
}

const listeners = specs.map(({ port }) => Deno.listen({ hostname: "127.0.0.1", port }));
const ports = listeners.map((listener) => (listener.addr as Deno.NetAddr).port);
await Deno.stdout.write(new TextEncoder().encode(JSON.stringify({ ports }) + "\n"));
listeners.forEach((listener, i) => serve(listener, specs[i]!.path));
// The harness holds stdin open; end of input means it is gone.
for await (const _ of Deno.stdin.readable) {
  // nothing is sent
}
Deno.exit(0);
