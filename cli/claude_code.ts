/**
 * Talking to Claude Code: running its `claude` command, reading where it registered
 * claude-peers, and reading and writing its settings.json (where the hooks live). Reads the
 * config files directly instead of `claude mcp get`, which starts every server it checks (and
 * so a broker).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import type { Config, Env } from "../broker/config.ts";
import { parseSettings, type Settings } from "./hook_settings.ts";

/** The name claude-peers is registered under. */
export const SERVER_NAME = "claude-peers";

/** Where an MCP server registration lives. */
export type Scope = "user" | "project" | "local";

/** A registered stdio command. */
export interface Registration {
  scope: Scope;
  file: string;
  command: string;
  args: string[];
}

/** What a `claude` run printed. */
export interface ClaudeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `claude` is not installed or not on PATH. */
export class ClaudeNotFoundError extends Error {
  override name = "ClaudeNotFoundError";
}

/** Runs `claude` with `args` (bounded by `timeoutMs`). */
export async function runClaude(
  config: Config,
  args: string[],
  timeoutMs = 60_000,
): Promise<ClaudeResult> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(config.claudeBin, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1" },
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new ClaudeNotFoundError(
        `Claude Code's "${config.claudeBin}" command was not found: install Claude Code (npm install -g @anthropic-ai/claude-code) or set CLAUDE_PEERS_CLAUDE_BIN`,
      );
    }
    throw error;
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Claude Code's version, e.g. "2.1.330", from `claude --version`. */
export async function claudeVersion(config: Config): Promise<string> {
  const result = await runClaude(config, ["--version"], 15_000);
  const match = result.stdout.match(/(\d+\.\d+\.\d+)/);
  if (result.code !== 0 || !match) {
    throw new Error(
      `"${config.claudeBin} --version" failed: ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
  return match[1]!;
}

/** Whether version `a` is at least `b` (dotted numbers). */
export function versionAtLeast(a: string, b: string): boolean {
  const left = a.split(".").map(Number);
  const right = b.split(".").map(Number);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return difference > 0;
  }
  return true;
}

/** Every registration of claude-peers visible from `cwd`: user, local and project scope. */
export async function findRegistrations(
  config: Config,
  cwd: string,
  gitRoot: string | null,
): Promise<Registration[]> {
  const found: Registration[] = [];
  const userFile = join(config.claudeConfigDir, ".claude.json");
  const user = await readJson(userFile);
  const userEntry = entryOf(user?.mcpServers);
  if (userEntry) found.push({ scope: "user", file: userFile, ...userEntry });
  const projects = user?.projects as Record<string, { mcpServers?: unknown }> | undefined;
  const localEntry = entryOf(projects?.[gitRoot ?? cwd]?.mcpServers);
  if (localEntry) found.push({ scope: "local", file: userFile, ...localEntry });
  const projectFile = join(cwd, ".mcp.json");
  const projectEntry = entryOf((await readJson(projectFile))?.mcpServers);
  if (projectEntry) found.push({ scope: "project", file: projectFile, ...projectEntry });
  return found;
}

function entryOf(servers: unknown): { command: string; args: string[] } | null {
  const entry = (servers as Record<string, { command?: unknown; args?: unknown }> | undefined)
    ?.[SERVER_NAME];
  if (!entry || typeof entry.command !== "string") return null;
  const args = Array.isArray(entry.args) ? entry.args.map(String) : [];
  return { command: entry.command, args };
}

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new Error(`Cannot read "${path}": ${error instanceof Error ? error.message : error}`);
  }
}

/**
 * Claude Code's user settings.json: in CLAUDE_CONFIG_DIR when that is set, else in ~/.claude
 * (while `.claude.json` sits in the home directory itself, as {@link Config.claudeConfigDir}
 * says). Config knows the directory but not which case it is, hence the one look at `env`.
 */
export function userSettingsPath(config: Config, env: Env = Deno.env): string {
  return env.get("CLAUDE_CONFIG_DIR")
    ? join(config.claudeConfigDir, "settings.json")
    : join(config.claudeConfigDir, ".claude", "settings.json");
}

/** The project settings.json of the project in `cwd`. */
export function projectSettingsPath(cwd: string): string {
  return join(cwd, ".claude", "settings.json");
}

/** A settings file as read; a missing file reads as `{}` with `text` null. */
export interface SettingsFile {
  path: string;
  settings: Settings;
  text: string | null;
}

/** Reads settings.json at `path`; throws when it is not a JSON object. */
export async function readSettingsFile(path: string): Promise<SettingsFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { path, settings: {}, text: null };
    throw error;
  }
  try {
    return { path, settings: parseSettings(text), text };
  } catch (error) {
    throw new Error(
      `Claude Code settings "${path}" are not valid JSON (${
        (error as Error).message
      }): fix the file, then run this again`,
    );
  }
}

/**
 * Replaces the file at `path` with `text` atomically (a temp file beside it, then rename),
 * keeping its mode; a symlink stays a symlink (the file it points at is replaced). Creates
 * the file owner-only (0600) and its directory (0700) when missing: it holds the hook token.
 */
export async function writeSettingsFile(path: string, text: string): Promise<void> {
  const target = await Deno.realPath(path).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return path;
    throw error;
  });
  const mode = (await Deno.stat(target).catch(() => null))?.mode;
  await Deno.mkdir(dirname(target), { recursive: true, mode: 0o700 });
  const temp = join(dirname(target), `.${basename(target)}.${crypto.randomUUID()}.tmp`);
  try {
    await Deno.writeTextFile(temp, text, { createNew: true, mode: 0o600 });
    // Deno.rename keeps the temp file's mode: give it the old file's.
    if (mode != null && Deno.build.os !== "windows") await Deno.chmod(temp, mode & 0o7777);
    await Deno.rename(temp, target);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}
