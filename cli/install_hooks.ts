/**
 * The settings.json half of install and uninstall: work out the new file first (so that a
 * file we cannot edit stops the command before it changes anything), then write it. The file
 * then holds the hook token, so a new one is owner-only and a readable one gets a warning.
 *
 * @module
 */
import { dirname } from "node:path";
import type { Config } from "../broker/config.ts";
import { hookToken, loadOrCreateSecret } from "../broker/secret.ts";
import type { SelfInvocation } from "../broker/spawn.ts";
import { type SettingsFile, writeSettingsFile } from "./claude_code.ts";
import {
  claudePeersHooks,
  formatSettings,
  type FoundHook,
  type Hook,
  HOOK_EVENTS,
  inspectHooks,
  mergeHooks,
  removeHooks,
} from "./hook_settings.ts";
import { hookContextUrl, redactHookUrl } from "./hook_url.ts";
import { print } from "./fail.ts";

/** A change to one settings.json, worked out before anything is written. */
export interface HookPlan {
  path: string;
  /** The new file text, or null to leave the file alone. */
  text: string | null;
  /** What to print once done. */
  messages: string[];
  /** Whether the file holds our hooks (and so the hook token) afterwards. */
  holdsToken: boolean;
}

/**
 * Add the hooks that run `add` and post to `hookUrl` ({@link brokerHookUrl}), or remove ours
 * (`remove` says why, for the output).
 */
export type HookAction =
  | { add: SelfInvocation; hookUrl: string }
  | { remove: "uninstall" | "--no-hooks" };

/** The URL of the HTTP hooks for `config`'s broker, creating the secret when missing. */
export async function brokerHookUrl(config: Config): Promise<string> {
  const secret = await loadOrCreateSecret(config.secretPath, config.stateDir);
  return hookContextUrl(config.port, await hookToken(secret));
}

/** The change `action` makes to `file`; throws when the file's hooks cannot be edited. */
export function planHooks(file: SettingsFile, action: HookAction): HookPlan {
  const { path, settings, text } = file;
  const before = inspectHooks(settings).found;
  if ("remove" in action) {
    const why = action.remove === "uninstall" ? "" : "--no-hooks: ";
    if (before.length === 0) {
      return {
        path,
        text: null,
        messages: [why ? "Skipped the hooks (--no-hooks)." : `No claude-peers hooks in ${path}.`],
        holdsToken: false,
      };
    }
    return {
      path,
      text: formatSettings(removeHooks(settings), text ?? ""),
      messages: [`${why}Removed the claude-peers hooks from ${path}.`],
      holdsToken: false,
    };
  }
  const wanted = claudePeersHooks(action.add, { hookUrl: action.hookUrl });
  let merged;
  try {
    merged = mergeHooks(settings, wanted);
  } catch (error) {
    throw new Error(
      `Cannot add the hooks to "${path}": ${
        (error as Error).message
      } (fix the file, or install with --no-hooks)`,
    );
  }
  const events = HOOK_EVENTS.join(", ");
  if (text !== null && JSON.stringify(merged) === JSON.stringify(settings)) {
    return {
      path,
      text: null,
      messages: [`The claude-peers hooks in ${path} are up to date (${events}): nothing changed.`],
      holdsToken: true,
    };
  }
  const current = new Set(
    Object.values(wanted).flatMap((group) => group.hooks.map(targetOfWanted)),
  );
  const replaced = [...new Set(before.map(targetOf))].filter((target) => !current.has(target));
  return {
    path,
    text: formatSettings(merged, text ?? ""),
    messages: [
      `${before.length > 0 ? "Updated" : "Added"} the claude-peers hooks in ${path} (${events}).`,
      ...replaced.map((target) => `Replaced the old hook: ${redactHookUrl(target)}`),
    ],
    holdsToken: true,
  };
}

/**
 * Creates the folder of a settings file the plan writes, owner-only, when it is missing. Call
 * it before `claude mcp add`, which would create `~/.claude` readable by everyone.
 */
export async function makeSettingsDir(plan: HookPlan): Promise<void> {
  if (plan.text === null || !plan.holdsToken) return;
  await Deno.mkdir(dirname(plan.path), { recursive: true, mode: 0o700 });
}

/**
 * Writes the planned file, if any, and prints what was done; warns when a file that holds
 * the hook token can be read by others (a file we create is owner-only).
 */
export async function applyHooks(plan: HookPlan): Promise<void> {
  if (plan.text !== null) await writeSettingsFile(plan.path, plan.text);
  for (const message of plan.messages) print(message);
  if (!plan.holdsToken || Deno.build.os === "windows") return;
  const mode = ((await Deno.stat(plan.path)).mode ?? 0) & 0o777;
  if (mode & 0o077) {
    print(
      `Warning: ${plan.path} holds a claude-peers hook token and is readable by group or others (mode ${
        mode.toString(8)
      }): chmod 600 "${plan.path}"`,
    );
  }
}

/** What a found hook runs or posts to: its command, or its URL. */
function targetOf(hook: FoundHook): string {
  return hook.type === "http" ? hook.url : hook.command;
}

function targetOfWanted(hook: Hook): unknown {
  return hook.type === "http" ? hook.url : hook.command;
}
