/**
 * install, uninstall and doctor against the real Claude Code CLI (`@anthropic-ai/claude-code`
 * from npm, installed once into .ci/.tools), each test with its own HOME: the MCP
 * registration and the hooks in settings.json.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { claudePeersCommand, createTestEnv, runCli, type TestEnv } from "./_helpers.ts";
import { claudePeersHooks, HOOK_EVENTS, type WantedHooks } from "../cli/hook_settings.ts";
import { hookContextUrl } from "../cli/hook_url.ts";
import { hookToken } from "../broker/secret.ts";
import {
  CLAUDE_CODE_VERSION,
  ensureClaudeCli as installClaudeCli,
} from "./_fixtures/claude_cli.ts";

/** The pinned CLI, or null (with the reason printed) when it cannot be installed. */
async function ensureClaudeCli(): Promise<string | null> {
  const cli = await installClaudeCli();
  if ("bin" in cli) return cli.bin;
  // deno-lint-ignore no-console
  console.error(`Claude Code CLI could not be installed: ${cli.error}`);
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

/** The hook token of the test's secret (install creates the secret). */
async function testHookToken(testEnv: TestEnv): Promise<string> {
  return await hookToken((await Deno.readTextFile(`${testEnv.dbPath}.d/secret`)).trim());
}

/** The hooks install should write for the claude-peers under test. */
async function wantedHooks(testEnv: TestEnv): Promise<WantedHooks> {
  const hookUrl = hookContextUrl(testEnv.port, await testHookToken(testEnv));
  return claudePeersHooks(claudePeersCommand([]), { hookUrl });
}

/** The permission bits of `path`. */
async function modeOf(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

function userSettingsFile(testEnv: TestEnv): string {
  return join(testEnv.dir, ".claude", "settings.json");
}

async function readJsonFile(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

/** A user's settings.json: their own Stop and PostToolUse hooks, and other keys. */
const USER_SETTINGS = {
  model: "opus",
  hooks: {
    Stop: [{ hooks: [{ type: "command", command: "notify-send done" }] }],
    PostToolUse: [{ matcher: "Bash", hooks: [{ type: "command", command: "~/bin/audit.sh" }] }],
  },
  permissions: { allow: ["Bash(ls:*)"] },
};

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
    const testEnv = await createTestEnv(claudeEnv());
    try {
      const first = await runCli(testEnv, ["install"]);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /Registered claude-peers with Claude Code \(user scope\)/);
      assert.match(first.stdout, /--dangerously-load-development-channels server:claude-peers/);
      if (Deno.build.os !== "windows") {
        const settingsDir = join(testEnv.dir, ".claude");
        assert.equal(await modeOf(settingsDir), 0o700, "made before claude mcp add makes it 755");
        assert.equal(await modeOf(join(settingsDir, "settings.json")), 0o600);
      }
      assert.doesNotMatch(first.stdout, /Warning/);
      const expected = claudePeersCommand(["mcp"]);
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
    } finally {
      await testEnv.cleanup();
    }
  },
});

Deno.test({
  name:
    `install --scope project writes .mcp.json and .claude/settings.json in the current directory${reason}`,
  ignore: !claude,
  async fn() {
    const testEnv = await createTestEnv(claudeEnv());
    const project = join(testEnv.dir, "project");
    await Deno.mkdir(project);
    try {
      const result = await runCli(testEnv, ["install", "--scope", "project"], undefined, project);
      assert.equal(result.code, 0, result.stderr);
      const mcp = JSON.parse(await Deno.readTextFile(join(project, ".mcp.json")));
      assert.equal(mcp.mcpServers["claude-peers"].args.at(-1), "mcp");
      const settingsPath = join(project, ".claude", "settings.json");
      // A project's settings may be committed: no hook token, command hooks for the context.
      const wanted = claudePeersHooks(claudePeersCommand([]), { hookUrl: "" });
      const written = await readJsonFile(settingsPath);
      assert.deepEqual(
        written,
        { hooks: Object.fromEntries(HOOK_EVENTS.map((event) => [event, [wanted[event]]])) },
      );
      assert.doesNotMatch(JSON.stringify(written), /token=/);
      assert.match(JSON.stringify(written), / hook context"/);
      assert.doesNotMatch(result.stdout, /Warning/);
      assert.equal(
        await Deno.stat(userSettingsFile(testEnv)).catch(() => null),
        null,
        "the user settings are left alone",
      );
      const removed = await runCli(
        testEnv,
        ["uninstall", "--scope", "project"],
        undefined,
        project,
      );
      assert.equal(removed.code, 0, removed.stderr);
      const after = JSON.parse(await Deno.readTextFile(join(project, ".mcp.json")));
      assert.equal(after.mcpServers["claude-peers"], undefined);
      assert.deepEqual(await readJsonFile(settingsPath), {});
    } finally {
      await testEnv.cleanup();
    }
  },
});

Deno.test({
  name:
    `uninstall removes the registration and --purge deletes the data and stops the broker${reason}`,
  ignore: !claude,
  async fn() {
    const testEnv = await createTestEnv(claudeEnv());
    try {
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
    } finally {
      await testEnv.cleanup();
    }
  },
});

Deno.test({
  name: `doctor passes a good set-up and explains each problem with a fix${reason}`,
  ignore: !claude,
  async fn() {
    const testEnv = await createTestEnv(claudeEnv());
    try {
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
      assert.match(
        unregistered.stdout,
        /! no claude-peers hooks in .*settings\.json\n +fix: run "claude-peers install"/,
      );
      assert.match(unregistered.stdout, /! a new session gets messages on tool call only/);

      assert.equal((await runCli(testEnv, ["install"])).code, 0);
      assert.equal((await runCli(testEnv, ["peers"])).code, 0);
      const good = await runCli(testEnv, ["doctor"]);
      assert.equal(good.code, 0, good.stdout);
      assert.match(good.stdout, /✔ broker running on http:\/\/127\.0\.0\.1:\d+ \(version /);
      assert.match(good.stdout, /✔ registered \(user scope\): /);
      assert.match(good.stdout, /✔ .*secret is private \(600\)/);
      assert.match(good.stdout, /✔ hooks \(user scope, SessionStart, Stop\): .* hook wait\n/);
      assert.match(
        good.stdout,
        new RegExp(
          `✔ hooks \\(user scope, UserPromptSubmit, PostToolUse\\): http://127\\.0\\.0\\.1:${testEnv.port}/hook/context\\?token=[0-9a-f]{6}…\n`,
        ),
      );
      assert.ok(!good.stdout.includes(await testHookToken(testEnv)), "the token is not shown");
      // The running broker takes the URL install wrote, and refuses a wrong token.
      const url = (await wantedHooks(testEnv)).PostToolUse!.hooks[0]!.url as string;
      const post = (to: string) =>
        fetch(to, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            session_id: "5f0c6a2e-3b1d-4c8e-9a7f-2d4e6b8c0a1f",
            hook_event_name: "PostToolUse",
          }),
        });
      const accepted = await post(url);
      assert.deepEqual([accepted.status, await accepted.json()], [200, {}]);
      const refused = await post(url.replace(/token=.*/, `token=${"0".repeat(40)}`));
      await refused.body?.cancel();
      assert.equal(refused.status, 401);
      assert.match(
        good.stdout,
        /✔ a new session gets messages through the hooks .*channel instead when claude is started with --dangerously-load-development-channels server:claude-peers \(doctor cannot see/,
      );

      const settingsPath = userSettingsFile(testEnv);
      const installed = await Deno.readTextFile(settingsPath);
      const settings = JSON.parse(installed);
      delete settings.hooks.UserPromptSubmit;
      settings.hooks.Stop[0].hooks[0].command = `${
        join(testEnv.dir, "gone", "claude-peers")
      } hook wait`;
      await Deno.writeTextFile(settingsPath, JSON.stringify(settings));
      const badHooks = await runCli(testEnv, ["doctor"]);
      assert.equal(badHooks.code, 1, badHooks.stdout);
      assert.match(
        badHooks.stdout,
        /✘ hooks \(user scope, Stop\) run a command that cannot run: ".*gone\/claude-peers" does not exist\n +fix: run "claude-peers install" to point them at this binary/,
      );
      assert.match(
        badHooks.stdout,
        /! .*settings\.json has no claude-peers hook for UserPromptSubmit\n +fix: run "claude-peers install"/,
      );
      assert.match(badHooks.stdout, /! a new session gets messages on tool call only/);

      const wrong = JSON.parse(installed);
      const wrongUrl = hookContextUrl(testEnv.port, "0".repeat(40));
      wrong.hooks.PostToolUse[0].hooks[0].url = wrongUrl;
      wrong.hooks.UserPromptSubmit[0].hooks[0].url = hookContextUrl(testEnv.port + 1, "x");
      await Deno.writeTextFile(settingsPath, JSON.stringify(wrong));
      const badToken = await runCli(testEnv, ["doctor"]);
      assert.equal(badToken.code, 1, badToken.stdout);
      assert.match(
        badToken.stdout,
        /✘ hooks \(user scope, PostToolUse\) post to http:.*\?token=000000… with a token the broker refuses .*\n +fix: run "claude-peers install" to write the current token\n/,
      );
      assert.match(
        badToken.stdout,
        new RegExp(
          `✘ hooks \\(user scope, UserPromptSubmit\\) post to http://127\\.0\\.0\\.1:${
            testEnv.port + 1
          }/hook/context\\?token=x, not to the broker's port ${testEnv.port}\n +fix: run "claude-peers install" to point them at this broker`,
        ),
      );
      assert.match(badToken.stdout, /! a new session gets messages on tool call only/);
      const fixed = await runCli(testEnv, ["install"]);
      assert.equal(fixed.code, 0, fixed.stderr);
      assert.equal(await Deno.readTextFile(settingsPath), installed, "install writes the token");
      await Deno.writeTextFile(settingsPath, installed);

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
    } finally {
      await testEnv.cleanup();
    }
  },
});

Deno.test("doctor flags a port held by a program that is not a claude-peers broker", async () => {
  const testEnv = await createTestEnv(claudeEnv());
  const impostor = Deno.serve(
    { hostname: "127.0.0.1", port: testEnv.port, onListen: () => {} },
    () => new Response("hello"),
  );
  try {
    const result = await runCli(testEnv, ["doctor"]);
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      new RegExp(`✘ port ${testEnv.port} is held by a program that is not a claude-peers broker`),
    );
  } finally {
    await impostor.shutdown();
    await testEnv.cleanup();
  }
});

Deno.test({
  name:
    `install adds the hooks beside the user's once, replaces a moved binary's, and uninstall takes only ours${reason}`,
  ignore: !claude,
  async fn() {
    const testEnv = await createTestEnv(claudeEnv());
    const path = userSettingsFile(testEnv);
    await Deno.mkdir(join(testEnv.dir, ".claude"));
    await Deno.writeTextFile(path, JSON.stringify(USER_SETTINGS, null, 4));
    if (Deno.build.os !== "windows") await Deno.chmod(path, 0o640);
    try {
      const first = await runCli(testEnv, ["install"]);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /Registered claude-peers with Claude Code \(user scope\)/);
      assert.ok(first.stdout.includes(`Added the claude-peers hooks in ${path} (`), first.stdout);
      const wanted = await wantedHooks(testEnv);
      const text = await Deno.readTextFile(path);
      assert.match(text, /^\{\n {4}"model"/, "the file keeps its indent");
      const settings = JSON.parse(text);
      assert.deepEqual(Object.keys(settings), ["model", "hooks", "permissions"]);
      assert.deepEqual(settings.permissions, USER_SETTINGS.permissions);
      assert.deepEqual(settings.hooks, {
        Stop: [...USER_SETTINGS.hooks.Stop, wanted.Stop],
        PostToolUse: [...USER_SETTINGS.hooks.PostToolUse, wanted.PostToolUse],
        SessionStart: [wanted.SessionStart],
        UserPromptSubmit: [wanted.UserPromptSubmit],
      });
      assert.match(settings.hooks.Stop[1].hooks[0].command, / hook wait$/);
      assert.equal(settings.hooks.PostToolUse[1].hooks[0].url, wanted.PostToolUse!.hooks[0]!.url);
      assert.ok(
        wanted.PostToolUse!.hooks[0]!.url ===
          `http://127.0.0.1:${testEnv.port}/hook/context?token=${await testHookToken(testEnv)}`,
      );
      if (Deno.build.os !== "windows") {
        assert.equal(await modeOf(path), 0o640, "the file keeps its mode");
        assert.ok(
          first.stdout.includes(
            `Warning: ${path} holds a claude-peers hook token and is readable by group or others (mode 640): chmod 600 "${path}"\n`,
          ),
          first.stdout,
        );
      }

      const again = await runCli(testEnv, ["install"]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /hooks in .* are up to date .*nothing changed/);
      assert.equal(await Deno.readTextFile(path), text);

      // An upgrade moved the binary, and the broker had another port: our hooks still name
      // the old place and port.
      const old = JSON.parse(text);
      type AnyHook = { type: string; command: string; url: string };
      for (const groups of Object.values(old.hooks) as { hooks: AnyHook[] }[][]) {
        for (const hook of groups.flatMap((group) => group.hooks)) {
          if (hook.type === "http") hook.url = hook.url.replace(/:\d+\//, ":1/");
          else hook.command = hook.command.replace(/^.* (hook \w+)$/, "/old/place/claude-peers $1");
        }
      }
      await Deno.writeTextFile(path, JSON.stringify(old, null, 4));
      const moved = await runCli(testEnv, ["install"]);
      assert.equal(moved.code, 0, moved.stderr);
      assert.match(moved.stdout, /Updated the claude-peers hooks/);
      assert.match(moved.stdout, /Replaced the old hook: \/old\/place\/claude-peers hook wait\n/);
      assert.match(
        moved.stdout,
        /Replaced the old hook: http:\/\/127\.0\.0\.1:1\/hook\/context\?token=[0-9a-f]{6}…\n/,
      );
      assert.equal(await Deno.readTextFile(path), text, "one entry per event, pointing here");

      const removed = await runCli(testEnv, ["uninstall"]);
      assert.equal(removed.code, 0, removed.stderr);
      assert.ok(removed.stdout.includes(`Removed the claude-peers hooks from ${path}.`));
      assert.deepEqual(await readJsonFile(path), USER_SETTINGS);
      const twice = await runCli(testEnv, ["uninstall"]);
      assert.equal(twice.code, 0, twice.stderr);
      assert.ok(twice.stdout.includes(`No claude-peers hooks in ${path}.`));
    } finally {
      await testEnv.cleanup();
    }
  },
});

Deno.test({
  name: `install --no-hooks registers the server only and removes hooks it added before${reason}`,
  ignore: !claude,
  async fn() {
    const testEnv = await createTestEnv(claudeEnv());
    const path = userSettingsFile(testEnv);
    try {
      const bare = await runCli(testEnv, ["install", "--no-hooks"]);
      assert.equal(bare.code, 0, bare.stderr);
      assert.match(bare.stdout, /Skipped the hooks \(--no-hooks\)/);
      assert.equal(await Deno.stat(path).catch(() => null), null, "no settings.json is made");
      assert.ok(await userRegistration(testEnv));

      const hooked = await runCli(testEnv, ["install"]);
      assert.equal(hooked.code, 0, hooked.stderr);
      assert.deepEqual(Object.keys((await readJsonFile(path)).hooks as object), [...HOOK_EVENTS]);
      if (Deno.build.os !== "windows") {
        assert.equal(await modeOf(path), 0o600, "a new settings.json is owner-only");
      }
      assert.doesNotMatch(hooked.stdout, /Warning/);
      const off = await runCli(testEnv, ["install", "--no-hooks"]);
      assert.equal(off.code, 0, off.stderr);
      assert.match(off.stdout, /--no-hooks: Removed the claude-peers hooks from /);
      assert.deepEqual(await readJsonFile(path), {});
      assert.ok(await userRegistration(testEnv), "the registration stays");

      const misuse = await runCli(testEnv, ["uninstall", "--no-hooks"]);
      assert.equal(misuse.code, 2);
      assert.match(misuse.stderr, /--no-hooks goes with install/);
    } finally {
      await testEnv.cleanup();
    }
  },
});

Deno.test({
  name: `install and uninstall refuse a settings.json that is not JSON and change nothing${reason}`,
  ignore: !claude,
  async fn() {
    const testEnv = await createTestEnv(claudeEnv());
    const path = userSettingsFile(testEnv);
    await Deno.mkdir(join(testEnv.dir, ".claude"));
    const broken = '{ "model": "opus", }\n';
    await Deno.writeTextFile(path, broken);
    try {
      const result = await runCli(testEnv, ["install"]);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, "");
      assert.match(
        result.stderr,
        /^claude-peers: Claude Code settings ".*settings\.json" are not valid JSON \(.*\): fix the file, then run this again\n$/,
      );
      assert.equal(await Deno.readTextFile(path), broken);
      assert.equal(await Deno.stat(join(testEnv.dir, ".claude.json")).catch(() => null), null);

      await Deno.writeTextFile(path, '{ "hooks": [] }');
      const wrongType = await runCli(testEnv, ["install"]);
      assert.equal(wrongType.code, 1);
      assert.match(wrongType.stderr, /Cannot add the hooks to ".*": "hooks" is not an object/);
      assert.equal(await Deno.readTextFile(path), '{ "hooks": [] }');

      await Deno.writeTextFile(path, broken);
      const uninstall = await runCli(testEnv, ["uninstall"]);
      assert.equal(uninstall.code, 1);
      assert.match(uninstall.stderr, /are not valid JSON/);
      assert.equal(await Deno.readTextFile(path), broken);
    } finally {
      await testEnv.cleanup();
    }
  },
});
