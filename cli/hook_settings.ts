/**
 * The claude-peers hooks in a Claude Code settings object (`settings.json`): which ones we
 * want, adding them, removing them and finding them. Pure functions over parsed JSON; they
 * never read or write a file and never change their input.
 *
 * A hook is "ours" when it is a command hook whose command ends with ` hook <verb>` (a verb
 * in {@link HOOK_VERBS}) and mentions `claude-peers` or `main.ts`, an HTTP hook that posts to
 * a loopback `/hook/context` (whatever its port and token, so that a new port or token replaces
 * the old entry), or when it equals one of the entries we want. The settings carry no marker
 * of their own: Claude Code validates hook entries, and a key it does not know could cost the
 * user every hook in the file.
 *
 * @module
 */
import { isHookUrl } from "./hook_url.ts";
import { type ShellOptions, shellQuote, shellSplit } from "./shell_words.ts";

/** A parsed settings file: a JSON object. */
export type Settings = Record<string, unknown>;

/** One hook as Claude Code spells it, e.g. `{ type: "command", command: "…" }`. */
export type Hook = Record<string, unknown> & { type: string };

/** A matcher group of one event: `{ matcher?, hooks: [...] }`. */
export interface HookGroup {
  matcher?: string;
  hooks: Hook[];
}

/** The groups claude-peers wants, by event name. */
export type WantedHooks = Record<string, HookGroup>;

/** How claude-peers is run: the program and the arguments before `hook <verb>`. */
export interface Invocation {
  command: string;
  args: readonly string[];
}

/** How {@link claudePeersHooks} spells the hooks. */
export interface HookOptions extends ShellOptions {
  /**
   * The broker's HTTP hook, from `hookContextUrl`; empty for a settings file that may be shared
   * (project scope, often committed): it must not carry the hook token, so the context hooks
   * there are command hooks (`hook context`) instead.
   */
  hookUrl: string;
}

/**
 * One hook of the table: `run` becomes the command `<invocation> ...run`; an `http` hook
 * gets the broker's hook URL.
 */
interface HookSpec {
  event: string;
  matcher?: string;
  run?: readonly string[];
  hook: Readonly<Hook>;
}

const WAIT = {
  type: "command",
  asyncRewake: true,
  timeout: 86_400,
  rewakeSummary: "claude-peers: new message",
  // What the model reads in place of `Stop hook blocking error from command "Stop": `.
  rewakeMessage:
    "claude-peers: a message from another Claude Code session arrived (reply with send_message)",
} as const;
// An HTTP hook costs no process start, which a command hook pays on every tool call; Claude
// Code posts the hook's JSON (session_id in the body: header interpolation cannot see it) and
// a refused connection adds no delay and shows the model nothing.
const CONTEXT = { type: "http", timeout: 5 } as const;

/**
 * Every hook claude-peers installs, the one place they are listed. `wait` blocks in the
 * background and exits 2 on a message, which wakes an idle session (asyncRewake); the broker's
 * `/hook/context` answers with new messages as additional context. PostToolUse has no
 * matcher: every tool.
 */
export const HOOK_TABLE: readonly HookSpec[] = [
  { event: "SessionStart", run: ["hook", "wait"], hook: WAIT },
  { event: "Stop", run: ["hook", "wait"], hook: WAIT },
  { event: "UserPromptSubmit", hook: CONTEXT },
  { event: "PostToolUse", hook: CONTEXT },
];

/** Every `hook <verb>` any version installed: add verbs, never remove one, or old hooks stay. */
export const HOOK_VERBS: readonly string[] = ["wait", "context"];

const OUR_COMMAND = new RegExp(`\\shook\\s+(?:${HOOK_VERBS.join("|")})\\s*$`);
const OUR_PROGRAM = /claude-peers|main\.ts/;
/** The events of {@link HOOK_TABLE}, in order. */
export const HOOK_EVENTS: readonly string[] = HOOK_TABLE.map((spec) => spec.event);

/** The hooks claude-peers wants when run as `invocation`, by event. */
export function claudePeersHooks(invocation: Invocation, options: HookOptions): WantedHooks {
  const wanted: WantedHooks = {};
  for (const { event, matcher, run, hook } of HOOK_TABLE) {
    const { type, ...rest } = hook;
    const entry: Hook = run
      ? {
        type,
        command: shellQuote([invocation.command, ...invocation.args, ...run], options),
        ...rest,
      }
      : type === "http" && options.hookUrl
      ? { type, url: options.hookUrl, ...rest }
      : type === "http"
      ? {
        type: "command",
        command: shellQuote([invocation.command, ...invocation.args, "hook", "context"], options),
        timeout: 10,
      }
      : { ...hook };
    const group = wanted[event] ??= { ...(matcher === undefined ? {} : { matcher }), hooks: [] };
    group.hooks.push(entry);
  }
  return wanted;
}

/** Whether `hook` was installed by claude-peers (see the module doc). */
export function isClaudePeersHook(hook: unknown, wanted: WantedHooks = {}): boolean {
  if (!isObject(hook)) return false;
  if (
    hook.type === "command" && typeof hook.command === "string" &&
    OUR_COMMAND.test(hook.command) && OUR_PROGRAM.test(hook.command)
  ) return true;
  if (hook.type === "http" && typeof hook.url === "string" && isHookUrl(hook.url)) return true;
  const json = JSON.stringify(hook);
  return Object.values(wanted).some((group) => group.hooks.some((w) => JSON.stringify(w) === json));
}

/**
 * `settings` with the `wanted` groups in, each where our old one was (else at the end), and
 * every other hook of ours gone; the user's hooks and keys are kept. Idempotent. Throws when
 * `hooks`, or the list of an event we add to, has the wrong type.
 */
export function mergeHooks(settings: Settings, wanted: WantedHooks): Settings {
  const result = structuredClone(settings);
  const hooks = result.hooks ?? {};
  if (!isObject(hooks)) throw new TypeError(`"hooks" is not an object`);
  for (const [event, groups] of Object.entries(hooks)) {
    if (!Array.isArray(groups)) {
      if (event in wanted) throw new TypeError(`"hooks.${event}" is not a list`);
      continue;
    }
    const { kept, firstOurs } = withoutOurs(groups, wanted);
    const group = wanted[event];
    if (group) {
      kept.splice(firstOurs ?? kept.length, 0, structuredClone(group));
      hooks[event] = kept;
    } else if (firstOurs !== undefined) {
      if (kept.length > 0) hooks[event] = kept;
      else delete hooks[event];
    }
  }
  for (const [event, group] of Object.entries(wanted)) {
    if (!(event in hooks)) hooks[event] = [structuredClone(group)];
  }
  result.hooks = hooks;
  return result;
}

/** `settings` without our hooks, and without the groups, lists and `hooks` that left empty. */
export function removeHooks(settings: Settings): Settings {
  const result = structuredClone(settings);
  const hooks = result.hooks;
  if (!isObject(hooks)) return result;
  let removed = false;
  for (const [event, groups] of Object.entries(hooks)) {
    if (!Array.isArray(groups)) continue;
    const { kept, firstOurs } = withoutOurs(groups, {});
    if (firstOurs === undefined) continue;
    removed = true;
    if (kept.length > 0) hooks[event] = kept;
    else delete hooks[event];
  }
  if (removed && Object.keys(hooks).length === 0) delete result.hooks;
  return result;
}

/** One of our hooks found in the settings: a command hook, or an HTTP hook (`url`). */
export type FoundHook =
  | {
    event: string;
    type: "command";
    command: string;
    /** The command split into words (program first), or null when it cannot be split. */
    argv: string[] | null;
  }
  | { event: string; type: "http"; url: string };

/** What {@link inspectHooks} found. */
export interface HookInspection {
  found: FoundHook[];
  /** Events of {@link HOOK_TABLE} that have none of our hooks. */
  missing: string[];
}

/** Our hooks in `settings` and the commands they run; the events that lack one. */
export function inspectHooks(settings: Settings, options: ShellOptions = {}): HookInspection {
  const found: FoundHook[] = [];
  const hooks = isObject(settings.hooks) ? settings.hooks : {};
  for (const [event, groups] of Object.entries(hooks)) {
    if (!Array.isArray(groups)) continue;
    for (const group of groups) {
      if (!isObject(group) || !Array.isArray(group.hooks)) continue;
      for (const hook of group.hooks) {
        if (!isObject(hook) || !isClaudePeersHook(hook)) continue;
        if (hook.type === "http" && typeof hook.url === "string") {
          found.push({ event, type: "http", url: hook.url });
        } else if (typeof hook.command === "string") {
          const argv = shellSplit(hook.command, options);
          found.push({ event, type: "command", command: hook.command, argv });
        }
      }
    }
  }
  const missing = HOOK_EVENTS.filter((event) => !found.some((hook) => hook.event === event));
  return { found, missing };
}

/** Parses a settings file's text; empty text is `{}`. Throws when it is not a JSON object. */
export function parseSettings(text: string): Settings {
  if (text.trim() === "") return {};
  const value: unknown = JSON.parse(text);
  if (!isObject(value)) throw new SyntaxError("the file is not a JSON object");
  return value;
}

/** `settings` as file text, indented like `previous` (two spaces for a new file). */
export function formatSettings(settings: Settings, previous = ""): string {
  const indent = previous.match(/^[{[][^\S\n]*\r?\n([ \t]+)\S/)?.[1] ?? "  ";
  const text = JSON.stringify(settings, null, indent) + "\n";
  return previous.includes("\r\n") ? text.replaceAll("\n", "\r\n") : text;
}

/** The groups without our hooks, and where the first group that held one of ours was. */
function withoutOurs(
  groups: unknown[],
  wanted: WantedHooks,
): { kept: unknown[]; firstOurs: number | undefined } {
  const kept: unknown[] = [];
  let firstOurs: number | undefined;
  for (const group of groups) {
    if (!isObject(group) || !Array.isArray(group.hooks)) {
      kept.push(group);
      continue;
    }
    const theirs = group.hooks.filter((hook) => !isClaudePeersHook(hook, wanted));
    if (theirs.length === group.hooks.length) {
      kept.push(group);
      continue;
    }
    firstOurs ??= kept.length;
    if (theirs.length > 0) kept.push({ ...group, hooks: theirs });
  }
  return { kept, firstOurs };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
