/**
 * Smoke test of a built claude-peers binary, the way Claude Code uses it: starts `<bin> broker`
 * on a free loopback port with a temporary database and HOME, connects two `<bin> mcp` servers
 * over stdio with the MCP SDK client, has one send the other a message and checks that it
 * arrives through `check_messages`. Every wait is bounded and every process it started is stopped
 * before it exits; it exits non-zero on any failure.
 *
 * It never touches the user's real HOME, database or broker port.
 *
 * ```sh
 * deno run -A .ci/smoke.ts dist/claude-peers
 * ```
 *
 * @module
 */
// deno-lint-ignore-file no-console -- a CI script reports to the terminal
import { resolve } from "node:path";
import { Client } from "npm:@modelcontextprotocol/sdk@1.32.2/client/index.js";
import { StdioClientTransport } from "npm:@modelcontextprotocol/sdk@1.32.2/client/stdio.js";

const BROKER_READY_MS = 15_000;
const CONNECT_MS = 15_000;
const TOOL_CALL_MS = 10_000;
const DELIVERY_MS = 10_000;
const STOP_MS = 5_000;

/** Runs the smoke test against the binary at `bin`; throws on the first failed expectation. */
export async function smokeTest(bin: string): Promise<void> {
  const home = await Deno.makeTempDir({ prefix: "claude-peers-smoke-" });
  const port = freePort();
  const env: Record<string, string> = {
    HOME: home,
    USERPROFILE: home,
    CLAUDE_PEERS_DB: `${home}/peers.db`,
    CLAUDE_PEERS_PORT: String(port),
    CLAUDE_PEERS_CHANNEL: "off",
  };
  const clients: Client[] = [];
  let broker: Deno.ChildProcess | undefined;
  try {
    broker = new Deno.Command(bin, {
      args: ["broker"],
      env,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    let exitCode: number | undefined;
    broker.status.then((status) => exitCode = status.code);
    await waitFor(`the broker to answer on port ${port}`, BROKER_READY_MS, async () => {
      if (exitCode !== undefined) throw new Error(`The broker exited early with code ${exitCode}`);
      return await healthy(port);
    });
    console.log(`broker answers on 127.0.0.1:${port}`);

    const alice = await connectMcp(bin, env, "smoke-a");
    clients.push(alice);
    const bob = await connectMcp(bin, env, "smoke-b");
    clients.push(bob);
    const aliceId = peerId(await callText(alice, "whoami", {}));
    const bobId = peerId(await callText(bob, "whoami", {}));
    console.log(`peers registered: ${aliceId} and ${bobId}`);
    if (aliceId === bobId) throw new Error(`Both MCP servers got the same peer id "${aliceId}"`);

    const text = `smoke test message ${crypto.randomUUID()}`;
    const sent = await callText(alice, "send_message", { to_id: bobId, message: text });
    console.log(`send_message: ${sent}`);
    let inbox = "";
    await waitFor(`the message to appear in check_messages of ${bobId}`, DELIVERY_MS, async () => {
      inbox = await callText(bob, "check_messages", {});
      return inbox.includes(text);
    }).catch((error) => {
      throw new Error(`${error.message}; last check_messages said: ${JSON.stringify(inbox)}`);
    });
    console.log(`check_messages on ${bobId} shows the message`);
  } finally {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    if (broker) await stop(broker);
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function healthy(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, {
      signal: AbortSignal.timeout(1_000),
    });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** Polls `predicate` every 100 ms until it is true; fails after `timeoutMs`. */
async function waitFor(
  what: string,
  timeoutMs: number,
  predicate: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function connectMcp(bin: string, env: Record<string, string>, name: string): Promise<Client> {
  const client = new Client({ name, version: "0.0.0" });
  const transport = new StdioClientTransport({
    command: bin,
    args: ["mcp"],
    env,
    stderr: "inherit",
  });
  await client.connect(transport, { timeout: CONNECT_MS });
  return client;
}

/** Calls a tool and returns its text; a tool error or a result without text fails. */
async function callText(
  client: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<string> {
  const result = await client.callTool({ name, arguments: args }, undefined, {
    timeout: TOOL_CALL_MS,
  });
  const content: unknown[] = Array.isArray(result.content) ? result.content : [];
  const text = content.filter(isTextPart).map((part) => part.text).join("\n");
  if (result.isError) throw new Error(`Tool "${name}" failed: ${text}`);
  return text;
}

function isTextPart(part: unknown): part is { type: "text"; text: string } {
  const { type, text } = (part ?? {}) as { type?: unknown; text?: unknown };
  return type === "text" && typeof text === "string";
}

function peerId(whoami: string): string {
  const match = whoami.match(/^id: (\S+)$/m);
  if (!match?.[1]) throw new Error(`whoami did not name an id: ${JSON.stringify(whoami)}`);
  return match[1];
}

/** Asks the process to stop, then kills it if it has not exited within STOP_MS. */
async function stop(child: Deno.ChildProcess): Promise<void> {
  const stopped = child.status.then(() => true);
  try {
    child.kill("SIGTERM");
  } catch {
    // Already exited.
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) =>
    timer = setTimeout(() => resolve(false), STOP_MS)
  );
  const exited = await Promise.race([stopped, timeout]);
  clearTimeout(timer);
  if (!exited) {
    console.error(`the broker did not stop within ${STOP_MS} ms; killing it`);
    child.kill("SIGKILL");
    await child.status;
  }
}

if (import.meta.main) {
  const [bin, ...rest] = Deno.args;
  if (!bin || rest.length > 0) {
    console.error("Usage: deno run -A .ci/smoke.ts <path to claude-peers binary>");
    Deno.exit(2);
  }
  try {
    await smokeTest(resolve(bin));
    console.log("smoke test passed");
    Deno.exit(0);
  } catch (error) {
    console.error(`smoke test failed: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
