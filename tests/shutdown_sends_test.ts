/**
 * Claude Code may exit right after the model's last send_message: the calls the MCP server has
 * read when its stdin closes still reach the broker before it exits. A real broker, a real
 * server driven over raw stdio (the SDK client would cancel its pending calls on close).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createTestEnv, spawnMcp, startBroker, waitFor, within } from "./_helpers.ts";

const enc = new TextEncoder();
const line = (m: unknown) => enc.encode(JSON.stringify(m) + "\n");

Deno.test("20 send_message calls written just before stdin closes reach their recipient", async () => {
  await using testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" });
  await using _broker = await startBroker(testEnv);
  await using bob = await spawnMcp(testEnv);
  const bobId = await bob.id();
  const { command, args } = testEnv.command(["mcp"]);
  const child = new Deno.Command(command, {
    args,
    env: testEnv.env,
    cwd: testEnv.dir,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderrText = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let stderr = "";
  const stderrDone = (async () => {
    for (;;) {
      const { value, done } = await stderrText.read();
      if (done) return;
      stderr += value;
    }
  })();
  const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const readReply = async (id: number) => {
    for (;;) {
      const nl = buffered.indexOf("\n");
      if (nl >= 0) {
        const text = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const msg = JSON.parse(text);
        if (msg.id === id) return msg;
        continue;
      }
      const { value, done } = await out.read();
      if (done) throw new Error("stdout ended");
      buffered += value;
    }
  };
  const writer = child.stdin.getWriter();
  try {
    await writer.write(line({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "t", version: "0" },
      },
    }));
    await within(readReply(1), "initialize reply", 20_000);
    await writer.write(line({ jsonrpc: "2.0", method: "notifications/initialized" }));
    await writer.write(
      line({
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "whoami", arguments: {} },
      }),
    );
    const who = await within(readReply(2), "whoami reply", 20_000);
    assert.match(JSON.stringify(who), /id: [a-z0-9]{8}/);
    // The model's last send, then Claude Code exits.
    for (let i = 0; i < 20; i++) {
      await writer.write(line({
        jsonrpc: "2.0",
        id: 3 + i,
        method: "tools/call",
        params: { name: "send_message", arguments: { to_id: bobId, message: `last words ${i}` } },
      }));
    }
    await writer.close();
    const status = await within(child.status, "the server's exit", 15_000);
    await out.cancel().catch(() => {});
    await within(stderrDone, "stderr", 5_000);
    assert.equal(status.code, 0, stderr);
    let seen = "";
    await waitFor(
      async () => {
        seen += (await bob.call("check_messages")).text;
        return (seen.match(/last words \d+/g) ?? []).length >= 20;
      },
      3_000,
      "bob to get all 20",
    ).catch(() => {
      const got = (seen.match(/last words \d+/g) ?? []).length;
      assert.fail(`bob got ${got} of the 20 messages sent before stdin closed; stderr:\n${stderr}`);
    });
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await out.cancel().catch(() => {});
    await stderrDone.catch(() => {});
  }
});
