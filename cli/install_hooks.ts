/**
 * The settings.json half of install and uninstall: work out the new file first (so that a
 * file we cannot edit stops the command before it changes anything), then write it.
 *
 * @module
 */
import type { SelfInvocation } from "../broker/spawn.ts";
import { type SettingsFile, writeSettingsFile } from "./claude_code.ts";
import {
  claudePeersHooks,
  formatSettings,
  HOOK_EVENTS,
  inspectHooks,
  mergeHooks,
  removeHooks,
} from "./hook_settings.ts";
import { print } from "./fail.ts";

/** A change to one settings.json, worked out before anything is written. */
export interface HookPlan {
  path: string;
  /** The new file text, or null to leave the file alone. */
  text: string | null;
  /** What to print once done. */
  messages: string[];
}

/** Add the hooks that run `add`, or remove ours (`remove` says why, for the output). */
export type HookAction = { add: SelfInvocation } | { remove: "uninstall" | "--no-hooks" };

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
      };
    }
    return {
      path,
      text: formatSettings(removeHooks(settings), text ?? ""),
      messages: [`${why}Removed the claude-peers hooks from ${path}.`],
    };
  }
  const wanted = claudePeersHooks(action.add);
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
    };
  }
  const current = new Set(
    Object.values(wanted).flatMap((group) => group.hooks.map((hook) => hook.command)),
  );
  const replaced = [...new Set(before.map((hook) => hook.command))].filter((command) =>
    !current.has(command)
  );
  return {
    path,
    text: formatSettings(merged, text ?? ""),
    messages: [
      `${before.length > 0 ? "Updated" : "Added"} the claude-peers hooks in ${path} (${events}).`,
      ...replaced.map((command) => `Replaced the old hook: ${command}`),
    ],
  };
}

/** Writes the planned file, if any, and prints what was done. */
export async function applyHooks(plan: HookPlan): Promise<void> {
  if (plan.text !== null) await writeSettingsFile(plan.path, plan.text);
  for (const message of plan.messages) print(message);
}
