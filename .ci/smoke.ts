/**
 * Smoke test of a built claude-peers binary, the way Claude Code uses it: starts `<bin> broker`
 * on a free loopback port with a temporary database and HOME, connects two `<bin> mcp` servers
 * over stdio with the MCP SDK client, has one send the other a message and checks that it
 * arrives through `check_messages`. It runs on the test suite's own fixtures
 * (tests/_helpers.ts), so every wait is bounded and every process it started is stopped before
 * it exits; it exits non-zero on any failure.
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
import { createTestEnv, type McpPeer, spawnMcp, startBroker, waitFor } from "../tests/_helpers.ts";

const DELIVERY_MS = 10_000;
const TOOL_CALL_MS = 10_000;

/** Runs the smoke test against the binary at `bin`; throws on the first failed expectation. */
export async function smokeTest(bin: string): Promise<void> {
  await using env = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" }, {
    bin,
    prefix: "claude-peers-smoke-",
  });
  await using broker = await startBroker(env);
  try {
    console.log(`broker answers on 127.0.0.1:${env.port}`);
    await using alice = await spawnMcp(env, { callTimeoutMs: TOOL_CALL_MS });
    await using bob = await spawnMcp(env, { callTimeoutMs: TOOL_CALL_MS });
    const aliceId = peerId(await callText(alice, "whoami"));
    const bobId = peerId(await callText(bob, "whoami"));
    console.log(`peers registered: ${aliceId} and ${bobId}`);
    if (aliceId === bobId) throw new Error(`Both MCP servers got the same peer id "${aliceId}"`);

    const text = `smoke test message ${crypto.randomUUID()}`;
    const sent = await callText(alice, "send_message", { to_id: bobId, message: text });
    console.log(`send_message: ${sent}`);
    let inbox = "";
    await waitFor(
      async () => {
        inbox = await callText(bob, "check_messages");
        return inbox.includes(text);
      },
      DELIVERY_MS,
      `the message to appear in check_messages of ${bobId}`,
    ).catch((error) => {
      throw new Error(`${error.message}; last check_messages said: ${JSON.stringify(inbox)}`);
    });
    console.log(`check_messages on ${bobId} shows the message`);
  } catch (error) {
    console.error(`broker stderr:\n${broker.stderr()}`);
    throw error;
  }
}

/** Calls a tool and returns its text; a tool error fails. */
async function callText(
  peer: McpPeer,
  name: string,
  args: Record<string, unknown> = {},
): Promise<string> {
  const { text, isError } = await peer.call(name, args);
  if (isError) throw new Error(`Tool "${name}" failed: ${text}`);
  return text;
}

function peerId(whoami: string): string {
  const match = whoami.match(/^id: (\S+)$/m);
  if (!match?.[1]) throw new Error(`whoami did not name an id: ${JSON.stringify(whoami)}`);
  return match[1];
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
