/**
 * The hooks part of `claude-peers doctor`: which claude-peers hooks the user and project
 * settings.json hold, whether the command each runs exists, whether each HTTP hook posts to
 * this broker's port with this user's hook token, and so which delivery a new session gets.
 * It reads the settings and the secret, never creates the secret and never runs a hook.
 *
 * @module
 */
import type { Config } from "../broker/config.ts";
import { hookToken } from "../broker/secret.ts";
import { selfInvocation } from "../broker/spawn.ts";
import { projectSettingsPath, readSettingsFile, userSettingsPath } from "./claude_code.ts";
import { claudePeersHooks, type FoundHook, inspectHooks } from "./hook_settings.ts";
import { parseHookUrl, redactHookUrl } from "./hook_url.ts";
import { type Check, missingExecutable } from "./doctor_check.ts";

const CHANNEL_NOTE =
  "through the channel instead when claude is started with --dangerously-load-development-channels server:claude-peers (doctor cannot see how you start claude)";

/** Checks the claude-peers hooks visible from `cwd` and says which delivery a new session gets. */
export async function checkHooks(config: Config, cwd: string): Promise<Check[]> {
  const files: [string, "user" | "project"][] = [[userSettingsPath(config), "user"]];
  // In the home directory the two are one file, which Claude Code reads as the user's.
  const project = projectSettingsPath(cwd);
  if (project !== files[0]![0]) files.push([project, "project"]);
  // Only the commands are compared: the URL is checked against the config and the secret.
  const current = new Set(
    Object.values(claudePeersHooks(selfInvocation([]), { hookUrl: "" }))
      .flatMap((group) => group.hooks.map((hook) => hook.command)),
  );
  const checks: Check[] = [];
  const scopes: string[] = [];
  let broken = false;
  let token: Promise<string | null> | undefined;
  for (const [path, scope] of files) {
    let found: FoundHook[], missing: string[];
    try {
      ({ found, missing } = inspectHooks((await readSettingsFile(path)).settings));
    } catch (error) {
      checks.push({ outcome: "fail", text: (error as Error).message });
      broken = true;
      continue;
    }
    if (found.length === 0) continue;
    scopes.push(scope);
    const install = `run "claude-peers install${scope === "project" ? " --scope project" : ""}"`;
    for (const target of new Set(found.map(targetOf))) {
      const hooks = found.filter((hook) => targetOf(hook) === target);
      const where = `hooks (${scope} scope, ${hooks.map((hook) => hook.event).join(", ")})`;
      const first = hooks[0]!;
      const facts = { where, install, config };
      const check = first.type === "http"
        ? httpCheck(first.url, { ...facts, token: await (token ??= currentToken(config)) })
        : await commandCheck(first, { ...facts, current: current.has(first.command) });
      if (check.outcome === "fail") broken = true;
      checks.push(check);
    }
    if (missing.length > 0) {
      checks.push({
        outcome: "warn",
        text: `${path} has no claude-peers hook for ${missing.join(", ")}`,
        fix: install,
      });
    }
  }
  if (scopes.length > 1) {
    checks.push({
      outcome: "warn",
      text: "claude-peers hooks are in both the user and the project settings: each runs twice",
      fix: `keep one: "claude-peers install --scope project --no-hooks" removes the project's`,
    });
  }
  if (scopes.length === 0 && !broken) {
    checks.push({
      outcome: "warn",
      text: `no claude-peers hooks in ${files.map(([path]) => path).join(" or ")}`,
      fix: `run "claude-peers install"`,
    });
  }
  checks.push(
    scopes.length > 0 && !broken
      ? {
        outcome: "ok",
        text:
          `a new session gets messages through the hooks (at its start, after each turn and tool call); ${CHANNEL_NOTE}`,
      }
      : {
        outcome: "warn",
        text:
          `a new session gets messages on tool call only (with claude-peers tool results and check_messages); ${CHANNEL_NOTE}`,
      },
  );
  return checks;
}

/** What the check of one hook needs to know besides the hook. */
interface HookFacts {
  /** Which hooks these are, e.g. `hooks (user scope, Stop)`. */
  where: string;
  /** The install command that fixes them, e.g. `run "claude-peers install"`. */
  install: string;
  config: Config;
}

/** A command hook's check: does its program exist. */
async function commandCheck(
  hook: FoundHook & { type: "command" },
  { where, install, config, current }: HookFacts & { current: boolean },
): Promise<Check> {
  const { command, argv } = hook;
  if (!argv?.[0] || /^~|\$/.test(argv[0])) {
    return { outcome: "warn", text: `${where} run ${command}: doctor cannot check it` };
  }
  const problem = await missingExecutable(argv[0], argv.slice(1), config.searchPath);
  if (problem) {
    return {
      outcome: "fail",
      text: `${where} run a command that cannot run: ${problem}`,
      fix: `${install} to point them at this binary`,
    };
  }
  return { outcome: "ok", text: `${where}: ${command}${current ? "" : " (not this binary)"}` };
}

/** An HTTP hook's check: does it post to this broker's port with this user's hook token. */
function httpCheck(
  url: string,
  { where, install, config, token }: HookFacts & { token: string | null },
): Check {
  const shown = redactHookUrl(url);
  const parsed = parseHookUrl(url);
  if (parsed?.port !== config.port) {
    return {
      outcome: "fail",
      text: `${where} post to ${shown}, not to the broker's port ${config.port}`,
      fix: `${install} to point them at this broker`,
    };
  }
  if (token === null) {
    return {
      outcome: "fail",
      text:
        `${where} post to ${shown}, but there is no secret yet (${config.secretPath}), so the broker will refuse their token`,
      fix: `${install} to make one and write its token`,
    };
  }
  if (parsed.token !== token) {
    return {
      outcome: "fail",
      text:
        `${where} post to ${shown} with a token the broker refuses (the secret ${config.secretPath} changed)`,
      fix: `${install} to write the current token`,
    };
  }
  return { outcome: "ok", text: `${where}: ${shown}` };
}

/**
 * The hook token of this user's secret, or null when there is no secret yet. Read, not
 * loaded with loadOrCreateSecret: the doctor must not create the secret or chmod its folder.
 */
async function currentToken(config: Config): Promise<string | null> {
  try {
    return await hookToken((await Deno.readTextFile(config.secretPath)).trim());
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

function targetOf(hook: FoundHook): string {
  return hook.type === "http" ? hook.url : hook.command;
}
