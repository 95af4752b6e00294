/**
 * The pure settings.json functions: the hooks claude-peers wants, merging them in, taking
 * them out, finding them, and the shell quoting of their commands. No files, no processes.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  claudePeersHooks,
  formatSettings,
  HOOK_EVENTS,
  type HookOptions,
  inspectHooks,
  isClaudePeersHook,
  mergeHooks,
  parseSettings,
  removeHooks,
  type Settings,
} from "../cli/hook_settings.ts";
import { hookContextUrl, parseHookUrl, redactHookUrl } from "../cli/hook_url.ts";
import { shellQuote, shellSplit } from "../cli/shell_words.ts";
import { userSettingsPath } from "../cli/claude_code.ts";
import { resolveConfig } from "../broker/config.ts";

const BIN = { command: "/opt/claude-peers/bin/claude-peers", args: [] };
const MOVED = { command: "/home/me/.local/bin/claude-peers", args: [] };
const DEV = {
  command: "/usr/bin/deno",
  args: ["run", "--allow-all", "/home/me/my code/claude-peers/main.ts"],
};
const TOKEN = "0123456789abcdef0123456789abcdef01234567";
const URL_7899 = hookContextUrl(7899, TOKEN);
/** On Linux, with the broker's hook on port 7899. */
const LINUX: HookOptions = { os: "linux", hookUrl: URL_7899 };

/** A user's settings with their own hooks (one beside ours in a group) and other keys. */
function userSettings(): Settings {
  return {
    model: "opus",
    permissions: { allow: ["Bash(ls:*)"] },
    hooks: {
      Stop: [{ hooks: [{ type: "command", command: "notify-send done" }] }],
      PostToolUse: [
        { matcher: "Bash", hooks: [{ type: "command", command: "~/bin/audit.sh" }] },
      ],
      Notification: [],
    },
    env: { FOO: "1" },
  };
}

Deno.test("the wanted hooks: wait on SessionStart and Stop, the broker's HTTP hook on prompts and every tool", () => {
  const wanted = claudePeersHooks(BIN, LINUX);
  assert.deepEqual(Object.keys(wanted), [...HOOK_EVENTS]);
  assert.deepEqual(HOOK_EVENTS, ["SessionStart", "Stop", "UserPromptSubmit", "PostToolUse"]);
  const wait = {
    type: "command",
    command: "/opt/claude-peers/bin/claude-peers hook wait",
    asyncRewake: true,
    timeout: 86400,
    rewakeSummary: "claude-peers: new message",
    rewakeMessage:
      "claude-peers: a message from another Claude Code session arrived (reply with send_message)",
  };
  assert.deepEqual(wanted.SessionStart, { hooks: [wait] });
  assert.deepEqual(wanted.Stop, { hooks: [wait] });
  const context = {
    type: "http",
    url: `http://127.0.0.1:7899/hook/context?token=${TOKEN}`,
    timeout: 5,
  };
  assert.deepEqual(wanted.UserPromptSubmit, { hooks: [context] });
  assert.deepEqual(wanted.PostToolUse, { hooks: [context] }, "no matcher: every tool");
});

Deno.test("hook URLs carry the port and token, parse back, and print with the token cut", () => {
  assert.deepEqual(parseHookUrl(URL_7899), { port: 7899, token: TOKEN });
  assert.deepEqual(parseHookUrl("http://localhost:80/hook/context"), { port: 80, token: "" });
  assert.equal(parseHookUrl("http://127.0.0.1/hook/context?token=x"), null, "no port");
  assert.equal(parseHookUrl("http://example.com:7899/hook/context?token=x"), null);
  assert.equal(parseHookUrl("http://127.0.0.1:7899/hook/contexts"), null);
  assert.equal(redactHookUrl(URL_7899), "http://127.0.0.1:7899/hook/context?token=012345…");
  assert.equal(redactHookUrl("/x/claude-peers hook wait"), "/x/claude-peers hook wait");
});

Deno.test("commands are shell-quoted only where needed, and split back", () => {
  const posix = claudePeersHooks(DEV, LINUX).Stop!.hooks[0]!.command as string;
  assert.equal(
    posix,
    "/usr/bin/deno run --allow-all '/home/me/my code/claude-peers/main.ts' hook wait",
  );
  assert.deepEqual(shellSplit(posix, { os: "linux" }), [DEV.command, ...DEV.args, "hook", "wait"]);
  const tricky = ["/a b/it's", "", "$HOME", "back\\slash", 'say "hi"', "plain-1.0_x=y"];
  const quoted = shellQuote(tricky, { os: "linux" });
  assert.equal(quoted, `'/a b/it'\\''s' '' '$HOME' 'back\\slash' 'say "hi"' plain-1.0_x=y`);
  assert.deepEqual(shellSplit(quoted, { os: "linux" }), tricky);
  assert.deepEqual(shellSplit(`"$HOME/x" a\\ b "q\\"z"`, { os: "linux" }), [
    "$HOME/x",
    "a b",
    'q"z',
  ]);
  assert.equal(shellSplit("'open", { os: "linux" }), null);
  assert.equal(shellSplit('"open', { os: "linux" }), null);

  const windows = ["C:\\Program Files\\claude-peers\\claude-peers.exe", "hook", "wait"];
  const onWindows = shellQuote(windows, { os: "windows" });
  assert.equal(onWindows, '"C:\\Program Files\\claude-peers\\claude-peers.exe" hook wait');
  assert.deepEqual(shellSplit(onWindows, { os: "windows" }), windows);
  assert.equal(
    shellQuote(["C:\\bin\\claude-peers.exe"], { os: "windows" }),
    "C:\\bin\\claude-peers.exe",
  );
});

Deno.test("merging adds our hooks beside the user's, and again changes nothing", () => {
  const settings = userSettings();
  const before = structuredClone(settings);
  const wanted = claudePeersHooks(BIN, LINUX);
  const merged = mergeHooks(settings, wanted);
  assert.deepEqual(settings, before, "the input is not changed");
  const hooks = merged.hooks as Record<string, unknown[]>;
  assert.deepEqual(Object.keys(merged), ["model", "permissions", "hooks", "env"]);
  assert.deepEqual(hooks.Stop, [...(before.hooks as Record<string, unknown[]>).Stop!, wanted.Stop]);
  assert.deepEqual(
    hooks.PostToolUse![0],
    (before.hooks as Record<string, unknown[]>).PostToolUse![0],
  );
  assert.deepEqual(hooks.SessionStart, [wanted.SessionStart]);
  assert.deepEqual(hooks.Notification, [], "the user's empty list stays");
  assert.equal(JSON.stringify(mergeHooks(merged, wanted)), JSON.stringify(merged));
  assert.deepEqual(mergeHooks({}, wanted), {
    hooks: Object.fromEntries(
      Object.entries(wanted).map(([event, group]) => [event, [group]]),
    ),
  });
});

Deno.test("merging replaces our hooks for a moved binary in place instead of adding more", () => {
  const old = mergeHooks(userSettings(), claudePeersHooks(DEV, LINUX));
  const wanted = claudePeersHooks(MOVED, LINUX);
  const merged = mergeHooks(old, wanted);
  assert.equal(JSON.stringify(merged), JSON.stringify(mergeHooks(userSettings(), wanted)));
  const { found, missing } = inspectHooks(merged, LINUX);
  assert.equal(found.length, 4);
  assert.deepEqual(missing, []);
  assert.ok(
    found.every((hook) =>
      hook.type === "http" ? hook.url === URL_7899 : hook.argv?.[0] === MOVED.command
    ),
  );

  // Ours beside a user's hook in one group, and under an event we no longer use.
  const mixed: Settings = {
    hooks: {
      Stop: [{
        hooks: [{ type: "command", command: "notify-send done" }, {
          type: "command",
          command: "/old/claude-peers hook wait",
        }],
      }],
      SubagentStop: [{ hooks: [{ type: "command", command: "/old/claude-peers hook context" }] }],
    },
  };
  const fixed = mergeHooks(mixed, wanted).hooks as Record<string, unknown[]>;
  assert.deepEqual(fixed.Stop, [wanted.Stop, {
    hooks: [{ type: "command", command: "notify-send done" }],
  }]);
  assert.equal(fixed.SubagentStop, undefined);

  // Before the HTTP hooks: context was a command hook. It becomes the HTTP hook, in place.
  const commands: Settings = {
    hooks: {
      PostToolUse: [{
        hooks: [{ type: "command", command: "/old/claude-peers hook context", timeout: 10 }],
      }, { matcher: "Bash", hooks: [{ type: "command", command: "~/bin/audit.sh" }] }],
    },
  };
  const upgraded = mergeHooks(commands, wanted).hooks as Record<string, unknown[]>;
  assert.deepEqual(upgraded.PostToolUse, [wanted.PostToolUse, {
    matcher: "Bash",
    hooks: [{ type: "command", command: "~/bin/audit.sh" }],
  }]);
});

Deno.test("merging replaces our HTTP hook for a changed port or token instead of adding one", () => {
  const old = mergeHooks(userSettings(), claudePeersHooks(BIN, LINUX));
  for (const hookUrl of [hookContextUrl(7900, TOKEN), hookContextUrl(7899, "f".repeat(40))]) {
    const wanted = claudePeersHooks(BIN, { ...LINUX, hookUrl });
    const merged = mergeHooks(old, wanted);
    assert.equal(JSON.stringify(merged), JSON.stringify(mergeHooks(userSettings(), wanted)));
    const urls = inspectHooks(merged).found.flatMap((hook) => hook.type === "http" ? [hook] : []);
    assert.deepEqual(urls, [
      { event: "PostToolUse", type: "http", url: hookUrl },
      { event: "UserPromptSubmit", type: "http", url: hookUrl },
    ]);
  }
  const onLocalhost = { type: "http", url: "http://localhost:7899/hook/context", timeout: 5 };
  const moved = mergeHooks({ hooks: { PostToolUse: [{ hooks: [onLocalhost] }] } }, {
    PostToolUse: claudePeersHooks(BIN, LINUX).PostToolUse!,
  });
  assert.deepEqual(moved.hooks, { PostToolUse: [claudePeersHooks(BIN, LINUX).PostToolUse] });
});

Deno.test("our hooks are told apart from the user's by their command or URL", () => {
  const hook = (command: string) => ({ type: "command", command });
  assert.ok(isClaudePeersHook(hook("/x/claude-peers hook wait")));
  assert.ok(isClaudePeersHook(hook("'/x y/claude-peers.exe' hook context")));
  assert.ok(isClaudePeersHook(hook("deno run -A /src/main.ts hook wait")));
  assert.ok(!isClaudePeersHook(hook("/x/claude-peers hook waiting")));
  assert.ok(!isClaudePeersHook(hook("/x/other-tool hook wait")));
  assert.ok(!isClaudePeersHook(hook("claude-peers send abc hello")));
  assert.ok(!isClaudePeersHook({ type: "http", url: "http://127.0.0.1/claude-peers hook wait" }));
  const url = (url: string) => ({ type: "http", url });
  assert.ok(isClaudePeersHook(url(URL_7899)));
  assert.ok(isClaudePeersHook(url("http://localhost:1234/hook/context")));
  assert.ok(!isClaudePeersHook(url("http://127.0.0.1:7899/hook/context2?token=x")));
  assert.ok(!isClaudePeersHook(url("https://127.0.0.1:7899/hook/context")));
  assert.ok(!isClaudePeersHook(url("http://10.0.0.1:7899/hook/context")));
  assert.ok(!isClaudePeersHook({ type: "command", url: URL_7899 }));
  const http = { type: "http", url: "http://127.0.0.1:7899/hook" };
  assert.ok(isClaudePeersHook(http, { PostToolUse: { hooks: [http] } }), "or one we want");
});

Deno.test("removing takes out exactly ours and the groups and lists that left empty", () => {
  const settings = userSettings();
  const merged = mergeHooks(settings, claudePeersHooks(BIN, LINUX));
  assert.deepEqual(removeHooks(merged), settings);
  assert.deepEqual(removeHooks(settings), settings);
  assert.deepEqual(removeHooks(mergeHooks({ a: 1 }, claudePeersHooks(BIN, LINUX))), { a: 1 });
  assert.deepEqual(removeHooks({ hooks: {} }), { hooks: {} }, "an empty hooks we found stays");
  const odd = { hooks: { Stop: "not a list", Other: [1, { hooks: "x" }] } };
  assert.deepEqual(removeHooks(odd), odd);
});

Deno.test("merging refuses hooks of the wrong type instead of guessing", () => {
  const wanted = claudePeersHooks(BIN, LINUX);
  assert.throws(() => mergeHooks({ hooks: [] }, wanted), /"hooks" is not an object/);
  assert.throws(() => mergeHooks({ hooks: { Stop: {} } }, wanted), /"hooks.Stop" is not a list/);
  const other = { hooks: { Other: "kept" } };
  assert.deepEqual((mergeHooks(other, wanted).hooks as Settings).Other, "kept");
});

Deno.test("inspecting lists our hooks with their words and the events that lack one", () => {
  assert.deepEqual(inspectHooks(userSettings()), { found: [], missing: [...HOOK_EVENTS] });
  const settings = mergeHooks({}, claudePeersHooks(DEV, LINUX));
  delete (settings.hooks as Settings).UserPromptSubmit;
  const { found, missing } = inspectHooks(settings, LINUX);
  assert.deepEqual(missing, ["UserPromptSubmit"]);
  assert.deepEqual(found.map((hook) => hook.event), ["SessionStart", "Stop", "PostToolUse"]);
  assert.deepEqual(found[0], {
    event: "SessionStart",
    type: "command",
    command: "/usr/bin/deno run --allow-all '/home/me/my code/claude-peers/main.ts' hook wait",
    argv: [DEV.command, ...DEV.args, "hook", "wait"],
  });
  assert.deepEqual(found[2], { event: "PostToolUse", type: "http", url: URL_7899 });
});

Deno.test("settings text: parsed as an object, written back with its own indent", () => {
  assert.deepEqual(parseSettings(""), {});
  assert.deepEqual(parseSettings(' {"a": 1}\n'), { a: 1 });
  assert.throws(() => parseSettings("[1]"), /not a JSON object/);
  assert.throws(() => parseSettings("{nope"), SyntaxError);
  assert.equal(formatSettings({ a: { b: 1 } }), '{\n  "a": {\n    "b": 1\n  }\n}\n');
  assert.equal(formatSettings({ a: 1 }, '{\n    "x": 2\n}'), '{\n    "a": 1\n}\n');
  assert.equal(formatSettings({ a: 1 }, '{\r\n\t"x": 2\r\n}\r\n'), '{\r\n\t"a": 1\r\n}\r\n');
});

Deno.test("user settings live in ~/.claude, or in CLAUDE_CONFIG_DIR when it is set", () => {
  const env = (vars: Record<string, string>) => ({ get: (name: string) => vars[name] });
  const home = env({ HOME: "/home/me" });
  assert.equal(userSettingsPath(resolveConfig(home), home), "/home/me/.claude/settings.json");
  const custom = env({ HOME: "/home/me", CLAUDE_CONFIG_DIR: "/cfg" });
  assert.equal(userSettingsPath(resolveConfig(custom), custom), "/cfg/settings.json");
});
