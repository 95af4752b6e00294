/**
 * The hooks part of `claude-peers doctor`: which claude-peers hooks the user and project
 * settings.json hold, whether the command each runs exists, and so which delivery a new
 * session gets. It reads the settings and never runs a hook.
 *
 * @module
 */
import type { Config } from "../broker/config.ts";
import { selfInvocation } from "../broker/spawn.ts";
import { projectSettingsPath, readSettingsFile, userSettingsPath } from "./claude_code.ts";
import { claudePeersHooks, type FoundHook, inspectHooks } from "./hook_settings.ts";
import { type Check, missingExecutable } from "./doctor_check.ts";

const CHANNEL_NOTE =
  "through the channel instead when claude is started with --dangerously-load-development-channels server:claude-peers (doctor cannot see how you start claude)";

/** Checks the claude-peers hooks visible from `cwd` and says which delivery a new session gets. */
export async function checkHooks(config: Config, cwd: string): Promise<Check[]> {
  const files: [string, "user" | "project"][] = [[userSettingsPath(config), "user"]];
  // In the home directory the two are one file, which Claude Code reads as the user's.
  const project = projectSettingsPath(cwd);
  if (project !== files[0]![0]) files.push([project, "project"]);
  const current = new Set(
    Object.values(claudePeersHooks(selfInvocation([])))
      .flatMap((group) => group.hooks.map((hook) => hook.command)),
  );
  const checks: Check[] = [];
  const scopes: string[] = [];
  let broken = false;
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
    for (const command of new Set(found.map((hook) => hook.command))) {
      const hooks = found.filter((hook) => hook.command === command);
      const where = `hooks (${scope} scope, ${hooks.map((hook) => hook.event).join(", ")})`;
      const argv = hooks[0]!.argv;
      if (!argv?.[0] || /^~|\$/.test(argv[0])) {
        checks.push({ outcome: "warn", text: `${where} run ${command}: doctor cannot check it` });
        continue;
      }
      const problem = await missingExecutable(argv[0], argv.slice(1), config.searchPath);
      if (problem) {
        broken = true;
        checks.push({
          outcome: "fail",
          text: `${where} run a command that cannot run: ${problem}`,
          fix: `${install} to point them at this binary`,
        });
      } else {
        const note = current.has(command) ? "" : " (not this binary)";
        checks.push({ outcome: "ok", text: `${where}: ${command}${note}` });
      }
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
