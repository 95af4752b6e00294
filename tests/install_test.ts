/**
 * install, uninstall and doctor against the real Claude Code CLI (`@anthropic-ai/claude-code`
 * from npm, installed once into .ci/.tools), each test with its own HOME.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createTestEnv, runCli, type TestEnv } from "./_helpers.ts";

const CLAUDE_CODE_VERSION = "2.1.330";
const toolsDir = new URL("../.ci/.tools/claude-code", import.meta.url).pathname;
const claudeBin = join(toolsDir, "node_modules", ".bin", "claude");

/** Installs the pinned Claude Code CLI once; null (with the reason printed) when it cannot. */
async function ensureClaudeCli(): Promise<string | null> {
  if (await Deno.stat(claudeBin).catch(() => null)) return claudeBin;
  const npm = Deno.build.os === "windows" ? "npm.cmd" : "npm";
  try {
    const child = new Deno.Command(npm, {
      args: [
        "install",
        "--prefix",
        toolsDir,
        "--no-save",
        "--no-audit",
        "--no-fund",
        `@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}`,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    const output = await child.output();
    clearTimeout(timer);
    if (output.success && await Deno.stat(claudeBin).catch(() => null)) return claudeBin;
    // deno-lint-ignore no-console
    console.error(
      `Claude Code CLI could not be installed: ${new TextDecoder().decode(output.stderr)}`,
    );
  } catch (error) {
    // deno-lint-ignore no-console
    console.error(`Claude Code CLI could not be installed: ${error}`);
  }
  return null;
}

const claude = Deno.build.os === "windows" ? null : await ensureClaudeCli();
const reason = claude ? "" : " [ignored: the Claude Code CLI could not be installed from npm]";

function claudeEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    CLAUDE_PEERS_CLAUDE_BIN: claude ?? "claude",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    MCP_TIMEOUT: "30000",
    ...extra,
  };
}

async function userRegistration(
  testEnv: TestEnv,
): Promise<{ command: string; args: string[] } | undefined> {
  const config = JSON.parse(await Deno.readTextFile(join(testEnv.dir, ".claude.json")));
  return config.mcpServers?.["claude-peers"];
}

async function runClaude(testEnv: TestEnv, args: string[]): Promise<string> {
  const output = await new Deno.Command(claude!, {
    args,
    cwd: testEnv.dir,
    env: testEnv.env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
}

Deno.test({
  name: `install registers a working server once, and re-registers a moved binary${reason}`,
  ignore: !claude,
  async fn() {
    await using testEnv = await createTestEnv(claudeEnv());
    const first = await runCli(testEnv, ["install"]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Registered claude-peers with Claude Code \(user scope\)/);
    assert.match(first.stdout, /--dangerously-load-development-channels server:claude-peers/);
    const expected = testEnv.command(["mcp"]);
    assert.deepEqual(await userRegistration(testEnv), {
      type: "stdio",
      command: expected.command,
      args: expected.args,
      env: {},
    });
    const again = await runCli(testEnv, ["install"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already registered .*nothing changed/);
    // Claude Code's own health check starts the registered command and speaks MCP to it.
    const listed = await runClaude(testEnv, ["mcp", "list"]);
    assert.match(listed, /claude-peers: .* - ✔ Connected/);

    const configPath = join(testEnv.dir, ".claude.json");
    const config = JSON.parse(await Deno.readTextFile(configPath));
    config.mcpServers["claude-peers"].command = "/old/place/claude-peers";
    await Deno.writeTextFile(configPath, JSON.stringify(config));
    const moved = await runCli(testEnv, ["install"]);
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(
      moved.stdout,
      /Replaced the old registration: \/old\/place\/claude-peers .*mcp\n/,
    );
    assert.equal((await userRegistration(testEnv))?.command, expected.command);
  },
});

Deno.test({
  name: `install --scope project writes .mcp.json in the current directory${reason}`,
  ignore: !claude,
  async fn() {
    await using testEnv = await createTestEnv(claudeEnv());
    const project = join(testEnv.dir, "project");
    await Deno.mkdir(project);
    const result = await runCli(testEnv, ["install", "--scope", "project"], undefined, project);
    assert.equal(result.code, 0, result.stderr);
    const mcp = JSON.parse(await Deno.readTextFile(join(project, ".mcp.json")));
    assert.equal(mcp.mcpServers["claude-peers"].args.at(-1), "mcp");
    const removed = await runCli(
      testEnv,
      ["uninstall", "--scope", "project"],
      undefined,
      project,
    );
    assert.equal(removed.code, 0, removed.stderr);
    const after = JSON.parse(await Deno.readTextFile(join(project, ".mcp.json")));
    assert.equal(after.mcpServers["claude-peers"], undefined);
  },
});

Deno.test({
  name:
    `uninstall removes the registration and --purge deletes the data and stops the broker${reason}`,
  ignore: !claude,
  async fn() {
    await using testEnv = await createTestEnv(claudeEnv());
    assert.equal((await runCli(testEnv, ["install"])).code, 0);
    assert.equal((await runCli(testEnv, ["peers"])).code, 0, "a broker runs and the files exist");
    const removed = await runCli(testEnv, ["uninstall"]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /Removed the Claude Code registration/);
    assert.equal(await userRegistration(testEnv), undefined);
    const purged = await runCli(testEnv, ["uninstall", "--purge"]);
    assert.equal(purged.code, 0, purged.stderr);
    assert.match(purged.stdout, /was not registered/);
    assert.match(purged.stdout, /stopped/);
    for (const path of [testEnv.dbPath, `${testEnv.dbPath}.d`]) {
      assert.equal(await Deno.stat(path).catch(() => null), null, `${path} was deleted`);
    }
    await assert.rejects(testEnv.client().health());
  },
});

Deno.test({
  name: `doctor passes a good set-up and explains each problem with a fix${reason}`,
  ignore: !claude,
  async fn() {
    await using testEnv = await createTestEnv(claudeEnv());
    const unregistered = await runCli(testEnv, ["doctor"]);
    assert.equal(unregistered.code, 1);
    assert.match(
      unregistered.stdout,
      /✘ claude-peers is not registered with Claude Code\n +fix: run "claude-peers install"/,
    );
    assert.match(
      unregistered.stdout,
      new RegExp(
        `✔ Claude Code ${CLAUDE_CODE_VERSION.replaceAll(".", "\\.")} \\(channels supported\\)`,
      ),
    );

    assert.equal((await runCli(testEnv, ["install"])).code, 0);
    assert.equal((await runCli(testEnv, ["peers"])).code, 0);
    const good = await runCli(testEnv, ["doctor"]);
    assert.equal(good.code, 0, good.stdout);
    assert.match(good.stdout, /✔ broker running on http:\/\/127\.0\.0\.1:\d+ \(version /);
    assert.match(good.stdout, /✔ registered \(user scope\): /);
    assert.match(good.stdout, /✔ .*secret is private \(600\)/);

    await Deno.chmod(`${testEnv.dbPath}.d/secret`, 0o644);
    const leaky = await runCli(testEnv, ["doctor"]);
    assert.equal(leaky.code, 1);
    assert.match(leaky.stdout, /✘ .*secret has mode 644: others can read it\n +fix: chmod 600/);
    await Deno.chmod(`${testEnv.dbPath}.d/secret`, 0o600);

    const configPath = join(testEnv.dir, ".claude.json");
    const config = JSON.parse(await Deno.readTextFile(configPath));
    config.mcpServers["claude-peers"].command = join(testEnv.dir, "gone", "claude-peers");
    await Deno.writeTextFile(configPath, JSON.stringify(config));
    const broken = await runCli(testEnv, ["doctor"]);
    assert.equal(broken.code, 1);
    assert.match(
      broken.stdout,
      /✘ registered \(user scope.*cannot run: .*does not exist"?\n +fix: run "claude-peers install"/,
    );

    const noClaude = await runCli({
      ...testEnv,
      env: { ...testEnv.env, CLAUDE_PEERS_CLAUDE_BIN: "/no/such/claude" },
    }, ["doctor"]);
    assert.equal(noClaude.code, 1);
    assert.match(noClaude.stdout, /✘ Claude Code's "\/no\/such\/claude" command was not found/);
  },
});

Deno.test("doctor flags a port held by a program that is not a claude-peers broker", async () => {
  await using testEnv = await createTestEnv(claudeEnv());
  // Disposing a server shuts it down, before the environment is cleaned up.
  await using _impostor = Deno.serve(
    { hostname: "127.0.0.1", port: testEnv.port, onListen: () => {} },
    () => new Response("hello"),
  );
  const result = await runCli(testEnv, ["doctor"]);
  assert.equal(result.code, 1);
  assert.match(
    result.stdout,
    new RegExp(`✘ port ${testEnv.port} is held by a program that is not a claude-peers broker`),
  );
});
