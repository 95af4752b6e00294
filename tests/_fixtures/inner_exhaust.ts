/**
 * Run under a low `ulimit -n`: starts the broker's inner server, connects to it until the
 * process runs out of file descriptors (so the server's accept fails), lets go, and prints
 * "served again" once the server answers a request after that. Diagnostics go to stderr.
 *
 * `deno run -A inner_exhaust.ts DIR` (DIR: an owner-only directory for the socket).
 *
 * @module
 */
// deno-lint-ignore-file no-console -- a script that reports on stdout
import { InnerServer } from "../../broker/inner_server.ts";

const server = await InnerServer.start(Deno.args[0]!, 1234, () => new Response("ok"));
const held: Deno.Conn[] = [];
try {
  while (held.length < 1_000) held.push(await server.connect());
} catch {
  // Out of descriptors (or the socket is gone while the server restarts): enough.
}
await new Promise((resolve) => setTimeout(resolve, 300));
for (const conn of held) conn.close();
const deadline = Date.now() + 5_000;
let answer = "";
while (Date.now() < deadline && !answer.endsWith("\r\n\r\nok")) {
  try {
    const conn = await server.connect();
    await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const buffer = new Uint8Array(512);
    answer = new TextDecoder().decode(buffer.subarray(0, await conn.read(buffer) ?? 0));
    conn.close();
  } catch {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
console.log(answer.endsWith("\r\n\r\nok") ? `served again after holding ${held.length}` : answer);
await server.shutdown();
await server.remove();
