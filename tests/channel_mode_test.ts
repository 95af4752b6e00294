/**
 * Channel mode: Claude Code gives no sign that it shows channel notifications, so the server
 * reads its launcher's command line; CLAUDE_PEERS_CHANNEL overrides the guess.
 *
 * @module
 */
import assert from "node:assert/strict";
import { namesChannel } from "../mcp/context.ts";
import { createTestEnv, spawnMcp, startBroker } from "./_helpers.ts";

Deno.test("a channel flag counts only when it names claude-peers", () => {
  const yes = [
    ["claude", "--dangerously-load-development-channels", "server:claude-peers"],
    ["claude", "--channels", "server:other", "server:claude-peers"],
    ["claude", "--channels=server:claude-peers"],
  ];
  const no = [
    ["claude"],
    ["claude", "--channels", "server:other"],
    ["claude", "--channels", "--verbose", "claude-peers"],
    ["claude-peers", "mcp"],
  ];
  for (const args of yes) assert.equal(namesChannel(args), true, args.join(" "));
  for (const args of no) assert.equal(namesChannel(args), false, args.join(" "));
});

Deno.test({
  name: `in auto mode the launcher's command line turns pushes on or off${
    Deno.build.os === "windows" ? " [ignored on Windows: launches through sh]" : ""
  }`,
  ignore: Deno.build.os === "windows",
  async fn() {
    await using testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "auto" });
    await using _broker = await startBroker(testEnv);
    const { command, args } = testEnv.command(["mcp"]);
    const quoted = [command, ...args].map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(" ");
    // `; :` keeps sh alive as the parent, the way Claude Code is the parent of the server.
    const launch = (flags: string[]) => ({
      command: "sh",
      args: ["-c", `${quoted}; :`, "claude", ...flags],
    });
    await using withChannels = await spawnMcp(testEnv, {
      launch: launch(["--dangerously-load-development-channels", "server:claude-peers"]),
    });
    await using without = await spawnMcp(testEnv, { launch: launch(["--verbose"]) });
    assert.match(
      (await withChannels.call("whoami")).text,
      /messages arrive: as channel notifications/,
    );
    assert.match((await without.call("whoami")).text, /messages arrive: through check_messages/);
  },
});
