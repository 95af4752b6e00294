/**
 * A broker that stops answering (SIGSTOP) must not hang anything: every CLI command and every
 * MCP tool call returns within its deadline with a clear error, and after SIGCONT everything
 * works again with nothing lost.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createTestEnv,
  ON_WINDOWS,
  posixTestName,
  runCli,
  spawnMcp,
  startBroker,
  waitFor,
} from "./_helpers.ts";

Deno.test({
  name: posixTestName(
    "a stopped broker makes calls fail within their deadline; after SIGCONT nothing is lost",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" });
    await using broker = await startBroker(testEnv);
    await using alice = await spawnMcp(testEnv);
    await using bob = await spawnMcp(testEnv);
    const bobId = await bob.id();
    await alice.id();
    assert.equal(
      (await alice.call("send_message", { to_id: bobId, message: "before" })).isError,
      false,
    );
    const pid = broker.process.pid;
    Deno.kill(pid, "SIGSTOP");
    try {
      // All at once: each waits for its own deadline.
      const commands = [["status"], ["peers"], ["send", bobId, "x"], ["doctor"]];
      const runs = commands.map(async (args) => {
        const start = performance.now();
        const result = await runCli(testEnv, args);
        return { args, result, took: performance.now() - start };
      });
      const listing = (async () => {
        const start = performance.now();
        return { listed: await alice.call("list_peers"), took: performance.now() - start };
      })();
      for (const { args, result, took } of await Promise.all(runs)) {
        assert.notEqual(result.code, 0, `${args[0]}: ${JSON.stringify(result)}`);
        assert.ok(took < 25_000, `${args[0]} took ${Math.round(took)} ms`);
        if (args[0] !== "doctor") {
          assert.match(result.stdout + result.stderr, /not answering/, JSON.stringify(result));
        }
      }
      const { listed, took } = await listing;
      assert.equal(listed.isError, true, listed.text);
      assert.match(listed.text, /not answering|Cannot reach/);
      assert.ok(took < 20_000, `list_peers took ${Math.round(took)} ms`);
    } finally {
      Deno.kill(pid, "SIGCONT");
    }
    await waitFor(
      async () => !(await alice.call("list_peers")).isError,
      20_000,
      "the broker to answer again",
    );
    assert.equal(
      (await alice.call("send_message", { to_id: bobId, message: "after" })).isError,
      false,
    );
    await waitFor(
      async () => {
        const text = (await bob.call("check_messages")).text;
        return text.includes("after") || text.includes("before");
      },
      10_000,
      "bob's messages",
    );
  },
});
