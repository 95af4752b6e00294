/**
 * `claude-peers install` and `uninstall`: register this program with Claude Code (idempotent)
 * and its hooks in settings.json, and remove both again, with `--purge` also deleting the
 * database, secret and log. A settings file that is not valid JSON stops either command before
 * it changes anything.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Config } from "../broker/config.ts";
import { selfInvocation } from "../broker/spawn.ts";
import {
  findRegistrations,
  projectSettingsPath,
  readSettingsFile,
  runClaude,
  SERVER_NAME,
  userSettingsPath,
} from "./claude_code.ts";
import { applyHooks, brokerHookUrl, makeSettingsDir, planHooks } from "./install_hooks.ts";
import { stopBroker } from "./kill_broker.ts";
import { print, UsageError } from "./fail.ts";
import type { Command } from "./command.ts";

/** `claude-peers install [--scope user|project] [--no-hooks]`. */
export const installCommand: Command = {
  name: "install",
  summary: "register claude-peers and its hooks with Claude Code (--scope user|project)",
  help: `Usage: claude-peers install [--scope user|project] [--no-hooks]

Registers this claude-peers with Claude Code (claude mcp add) and adds its hooks to Claude
Code's settings.json, so that messages reach a session at its start, after each turn and after
each tool call. Running it again changes nothing; after an upgrade that moved the binary it
updates the registration and the hooks. Your own hooks and settings are kept.

Options:
  --scope user|project   user: all your projects, ~/.claude/settings.json (default);
                         project: .mcp.json and .claude/settings.json here
  --no-hooks             register the server only, and remove claude-peers hooks from that
                         settings.json if an earlier install added them`,
  run: install,
};

/** `claude-peers uninstall [--scope user|project] [--purge]`. */
export const uninstallCommand: Command = {
  name: "uninstall",
  summary: "remove the registration and hooks (--purge: also the database, secret and log)",
  help: `Usage: claude-peers uninstall [--scope user|project] [--purge]

Removes the Claude Code registration and the claude-peers hooks (only those; your own hooks
stay).

Options:
  --scope user|project   which registration and settings.json to clean (default: user)
  --purge                also stop the broker and delete the database, secret and log`,
  run: uninstall,
};

const CHANNEL_LAUNCH = `claude --dangerously-load-development-channels server:${SERVER_NAME}`;

interface Options {
  scope: "user" | "project";
  purge: boolean;
  hooks: boolean;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      scope: { type: "string", default: "user" },
      purge: { type: "boolean" },
      "no-hooks": { type: "boolean" },
    },
    strict: true,
  });
  if (values.scope !== "user" && values.scope !== "project") {
    throw new UsageError(`--scope must be "user" or "project", got "${values.scope}"`);
  }
  return { scope: values.scope, purge: values.purge === true, hooks: !values["no-hooks"] };
}

async function install(args: string[], config: Config): Promise<number> {
  const { scope, purge, hooks } = parseOptions(args);
  if (purge) throw new UsageError("--purge goes with uninstall");
  // Every check before the first change: a settings file we cannot edit stops it all.
  const hookPlan = planHooks(
    await readSettingsFile(settingsPathOf(scope, config)),
    hooks
      // A project's settings are shared (often committed): no hook token goes there.
      ? { add: selfInvocation([]), hookUrl: scope === "user" ? await brokerHookUrl(config) : "" }
      : { remove: "--no-hooks" },
  );
  await makeSettingsDir(hookPlan);
  const wanted = selfInvocation(["mcp"]);
  const existing = (await findRegistrations(config, Deno.cwd(), null)).find((r) =>
    r.scope === scope
  );
  const same = existing?.command === wanted.command &&
    JSON.stringify(existing.args) === JSON.stringify(wanted.args);
  if (same) {
    print(`claude-peers is already registered with Claude Code (${scope} scope): nothing changed.`);
  } else {
    if (existing) {
      await claudeOrFail(config, ["mcp", "remove", SERVER_NAME, "--scope", scope]);
      print(`Replaced the old registration: ${[existing.command, ...existing.args].join(" ")}`);
    }
    await claudeOrFail(config, [
      "mcp",
      "add",
      "--scope",
      scope,
      "--transport",
      "stdio",
      SERVER_NAME,
      "--",
      wanted.command,
      ...wanted.args,
    ]);
    print(
      `Registered claude-peers with Claude Code (${scope} scope): ${
        [wanted.command, ...wanted.args].join(" ")
      }`,
    );
  }
  await applyHooks(hookPlan);
  print(
    hooks
      ? `\nNew sessions get messages through the hooks. To have them pushed mid-turn, start Claude Code with channels:\n  ${CHANNEL_LAUNCH}`
      : `\nStart Claude Code with channels so messages arrive at once:\n  ${CHANNEL_LAUNCH}`,
  );
  print(`Or add an alias to your shell profile:\n  alias claudep='${CHANNEL_LAUNCH}'`);
  return 0;
}

function settingsPathOf(scope: "user" | "project", config: Config): string {
  return scope === "user" ? userSettingsPath(config) : projectSettingsPath(Deno.cwd());
}

async function uninstall(args: string[], config: Config): Promise<number> {
  const { scope, purge, hooks } = parseOptions(args);
  if (!hooks) throw new UsageError("--no-hooks goes with install");
  const hookPlan = planHooks(await readSettingsFile(settingsPathOf(scope, config)), {
    remove: "uninstall",
  });
  const removed = await runClaude(config, ["mcp", "remove", SERVER_NAME, "--scope", scope]);
  if (removed.code === 0) print(`Removed the Claude Code registration (${scope} scope).`);
  else if (/No MCP server named/.test(removed.stderr)) {
    print(`claude-peers was not registered (${scope} scope).`);
  } else {throw new Error(
      `"claude mcp remove" failed: ${removed.stderr.trim() || removed.stdout.trim()}`,
    );}
  await applyHooks(hookPlan);
  if (purge) {
    await stopBroker(config);
    for (
      const path of [config.dbPath, `${config.dbPath}-wal`, `${config.dbPath}-shm`, config.stateDir]
    ) {
      try {
        await Deno.remove(path, { recursive: true });
        print(`Deleted ${path}`);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
  }
  return 0;
}

async function claudeOrFail(config: Config, args: string[]): Promise<void> {
  const result = await runClaude(config, args);
  if (result.code !== 0) {
    throw new Error(
      `"claude ${args.slice(0, 2).join(" ")}" failed: ${
        result.stderr.trim() || result.stdout.trim()
      }`,
    );
  }
}
