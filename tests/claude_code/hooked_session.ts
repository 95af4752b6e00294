/**
 * A Claude Code session with claude-peers installed the way a user installs it: a temp HOME,
 * `claude-peers install` (MCP server and hooks) run with the pinned Claude Code CLI, then the
 * real Claude Code started there by the harness, reaching the test's broker through a bridge.
 * Shared by the end-to-end tests and the benchmark.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ClaudeCode, startClaudeCode } from "./harness.ts";
import { createTestEnv, runCli, type TestEnv, waitFor } from "../_helpers.ts";
import { CLAUDE_BIN } from "../_fixtures/claude_cli.ts";

/** A test environment whose `install` uses the pinned Claude Code CLI; channels off. */
export function hookedEnv(): Promise<TestEnv> {
  return createTestEnv({ CLAUDE_PEERS_CLAUDE_BIN: CLAUDE_BIN, CLAUDE_PEERS_CHANNEL: "off" });
}

/** claude-peers installed in `testEnv`'s HOME, and Claude Code running in it. */
export async function startHookedSession(
  testEnv: TestEnv,
  options: { interactive?: boolean } = {},
): Promise<ClaudeCode> {
  const cwd = join(testEnv.dir, "project");
  await Deno.mkdir(cwd);
  const installed = await runCli(testEnv, ["install"], undefined, cwd);
  assert.equal(installed.code, 0, installed.stderr + installed.stdout);
  const claudeJson = JSON.parse(await Deno.readTextFile(join(testEnv.dir, ".claude.json")));
  const settings = JSON.parse(
    await Deno.readTextFile(join(testEnv.dir, ".claude", "settings.json")),
  );
  return await startClaudeCode({
    ...(options.interactive ? { interactive: true } : {}),
    home: testEnv.dir,
    cwd,
    env: {
      CLAUDE_PEERS_PORT: testEnv.env.CLAUDE_PEERS_PORT!,
      CLAUDE_PEERS_DB: testEnv.env.CLAUDE_PEERS_DB!,
      CLAUDE_PEERS_CHANNEL: "off",
    },
    mcpServers: claudeJson.mcpServers,
    settings,
    bridgePorts: [testEnv.port],
  });
}

/** The id of the one peer, once its hooks reach it (a waiter is connected). */
export async function hookedPeerId(testEnv: TestEnv, timeoutMs = 30_000): Promise<string> {
  let id = "";
  await waitFor(
    async () => {
      const { peers } = await testEnv.client().listPeers("machine");
      id = peers[0]?.delivery === "hooks" ? peers[0].id : "";
      return id !== "";
    },
    timeoutMs,
    "the session's peer, reached by its hooks",
  );
  return id;
}
