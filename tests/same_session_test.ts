/**
 * Two MCP servers in one Claude Code session (claude-peers registered twice, user and project
 * scope): they share the session's peer, and each stream a server opens ends the other's. The
 * one replaced waits instead of taking the stream back at once, so they do not reconnect in a
 * loop, and the session still hears its messages: real broker, real servers, the real CLI.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createTestEnv, runCli, spawnMcp, startBroker } from "./_helpers.ts";

const SESSION = { env: { CLAUDE_CODE_SESSION_ID: "3f2a9c1e-0000-4000-8000-0000000051a3" } };

function reconnects(stderr: string): number {
  return (stderr.match(/reconnecting in/g) ?? []).length;
}

Deno.test("two servers of one Claude Code session do not take the stream from each other in a loop", async () => {
  await using testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" });
  await using _broker = await startBroker(testEnv);
  await using first = await spawnMcp(testEnv, SESSION);
  const peerId = await first.id();
  await using second = await spawnMcp(testEnv, SESSION);
  assert.equal(await second.id(), peerId, "one session, one peer");
  const before = reconnects(first.stderr()) + reconnects(second.stderr());
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const during = reconnects(first.stderr()) + reconnects(second.stderr()) - before;
  assert.ok(during <= 2, `${during} reconnects in 3 s:\n${first.stderr()}\n${second.stderr()}`);
  assert.match(first.stderr(), /another claude-peers server of this Claude Code session took over/);
  // The session hears a message once, through whichever server the model asks.
  assert.equal((await runCli(testEnv, ["send", peerId, "for the session"])).code, 0);
  const shown = [await first.call("check_messages"), await second.call("check_messages")]
    .map((result) => result.text).join("\n");
  assert.equal(shown.split("for the session").length - 1, 1, shown);
});
