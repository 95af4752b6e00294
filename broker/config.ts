/**
 * Resolves every setting from the environment. This is the only module that reads
 * environment variables; everything else receives a {@link Config}.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import { CLAUDE_SESSION_PATTERN } from "./wire.ts";

/** The program's version, from deno.json. */
export const VERSION: string = denoJson.version;

/** How the MCP server decides whether Claude Code shows channel notifications. */
export type ChannelSetting = "on" | "off" | "auto";

/** Everything the broker, the MCP server and the CLI need to know about their setting. */
export interface Config {
  /** Loopback port of the broker. @default 7899 */
  port: number;
  /** Deno KV database file. @default ~/.claude-peers.db */
  dbPath: string;
  /** Owner-only (0700) directory beside the database for the secret and the log. */
  stateDir: string;
  /** The per-user secret that every broker request but /health must carry. */
  secretPath: string;
  /** Where the auto-started broker writes its diagnostics. */
  logPath: string;
  /** Base URL of the broker. */
  brokerUrl: string;
  /** Whether to push messages as channel notifications. @default "auto" */
  channel: ChannelSetting;
  /** How long an unacknowledged message is kept, in milliseconds. @default 24 h */
  retentionMs: number;
  /** How long a peer stays listed without a live connection, in milliseconds. @default 30 s */
  leaseMs: number;
  /**
   * How long a waiting hook keeps trying while the broker or its session's MCP server is away,
   * in milliseconds. @default 60 s
   */
  hookRetryMs: number;
  /**
   * How long the broker waits for a request head (and body) from a connection that has not
   * authenticated, in ms. @default 10 s
   */
  headerTimeoutMs: number;
  /** How long an unauthenticated connection may stay silent, in ms. @default 5 s */
  idleTimeoutMs: number;
  /** How long a delivered message stays in the history, in ms; 0 keeps none. @default 7 days */
  historyMs: number;
  /** Most messages the history keeps; 0 keeps none. @default 10,000 */
  historyMax: number;
  /** Whether the CLI must not colour its output (`NO_COLOR` set and not empty). */
  noColor: boolean;
  /** OpenAI key for the auto-summary; none disables it. */
  openaiApiKey: string | undefined;
  /** OpenAI-compatible endpoint for the auto-summary. */
  openaiBaseUrl: string | undefined;
  /** Model for the auto-summary. @default "gpt-4o-mini" */
  summaryModel: string;
  /** The Claude Code command used by install, uninstall and doctor. @default "claude" */
  claudeBin: string;
  /** Where Claude Code keeps `.claude.json`. @default CLAUDE_CONFIG_DIR, else the home directory */
  claudeConfigDir: string;
  /**
   * The Claude Code session this process runs in (`CLAUDE_CODE_SESSION_ID`, set for MCP servers
   * and hooks alike); undefined outside Claude Code or when malformed.
   */
  claudeSessionId: string | undefined;
  /** The Claude Code process a hook runs for (`CLAUDE_PID`). */
  claudePid: number | undefined;
  /** The executable search path, for doctor's checks. */
  searchPath: string;
  /**
   * Whether a variable such as GIT_DIR changes where git finds the repository: git facts are
   * then asked of git instead of read from the repository's files.
   */
  gitRelocated: boolean;
}

/** Variables that move git's repository discovery (or its config) away from the files. */
const GIT_DISCOVERY_VARIABLES = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_COMMON_DIR",
  "GIT_CEILING_DIRECTORIES",
  "GIT_DISCOVERY_ACROSS_FILESYSTEM",
  "GIT_CONFIG_PARAMETERS",
  "GIT_CONFIG_COUNT",
];

/** The environment variables this program reads. */
export interface Env {
  get(name: string): string | undefined;
}

/** Reads the configuration from `env` and fails with a clear sentence on a bad value. */
export function resolveConfig(env: Env = Deno.env): Config {
  const port = parseInteger(env, "CLAUDE_PEERS_PORT", 7899, 1, 65535);
  const dbPath = env.get("CLAUDE_PEERS_DB") || joinPath(homeDirectory(env), ".claude-peers.db");
  const stateDir = `${dbPath}.d`;
  return {
    port,
    dbPath,
    stateDir,
    secretPath: joinPath(stateDir, "secret"),
    logPath: joinPath(stateDir, "broker.log"),
    brokerUrl: `http://127.0.0.1:${port}`,
    channel: parseChannel(env.get("CLAUDE_PEERS_CHANNEL")),
    retentionMs: parseRetention(env),
    leaseMs: parseInteger(env, "CLAUDE_PEERS_LEASE_MS", 30_000, 1_000, 3_600_000),
    hookRetryMs: parseInteger(env, "CLAUDE_PEERS_HOOK_RETRY_MS", 60_000, 1_000, 3_600_000),
    headerTimeoutMs: parseInteger(env, "CLAUDE_PEERS_HEADER_TIMEOUT_MS", 10_000, 100, 600_000),
    idleTimeoutMs: parseInteger(env, "CLAUDE_PEERS_IDLE_TIMEOUT_MS", 5_000, 100, 600_000),
    historyMs: parseInteger(env, "CLAUDE_PEERS_HISTORY_DAYS", 7, 0, 3650) * 86_400_000,
    historyMax: parseInteger(env, "CLAUDE_PEERS_HISTORY_MAX", 10_000, 0, 1_000_000),
    noColor: (env.get("NO_COLOR") ?? "") !== "",
    openaiApiKey: env.get("OPENAI_API_KEY") || undefined,
    openaiBaseUrl: env.get("OPENAI_BASE_URL") || undefined,
    summaryModel: env.get("CLAUDE_PEERS_SUMMARY_MODEL") || "gpt-4o-mini",
    claudeBin: env.get("CLAUDE_PEERS_CLAUDE_BIN") || "claude",
    claudeConfigDir: env.get("CLAUDE_CONFIG_DIR") || homeDirectory(env),
    claudeSessionId: parseClaudeSession(env.get("CLAUDE_CODE_SESSION_ID")),
    claudePid: parsePid(env.get("CLAUDE_PID")),
    searchPath: env.get("PATH") ?? "",
    gitRelocated: GIT_DISCOVERY_VARIABLES.some((name) => (env.get(name) ?? "") !== ""),
  };
}

/** The user's home directory: HOME, else USERPROFILE (Windows). */
export function homeDirectory(env: Env = Deno.env): string {
  const home = env.get("HOME") || env.get("USERPROFILE");
  if (!home) throw new Error("Cannot find the home directory: set HOME (or CLAUDE_PEERS_DB)");
  return home;
}

/**
 * `name` inside directory `dir`. Not node:path, which main.ts would then load before every
 * command, the waiting hook included (~1 MB of memory per process, issue 11).
 */
export function joinPath(dir: string, name: string): string {
  const separator = Deno.build.os === "windows" ? "\\" : "/";
  return /[\\/]$/.test(dir) ? `${dir}${name}` : `${dir}${separator}${name}`;
}

/** The directory `path` lies in ("." for a bare name, "/" for one at the root); not node:path either. */
export function parentPath(path: string): string {
  const slash = Math.max(
    path.lastIndexOf("/"),
    Deno.build.os === "windows" ? path.lastIndexOf("\\") : -1,
  );
  if (slash === -1) return ".";
  return slash === 0 ? path.slice(0, 1) : path.slice(0, slash);
}

function parseInteger(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const value = /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`Invalid ${name} "${raw}": expected a whole number from ${min} to ${max}`);
  }
  return value;
}

/** CLAUDE_PEERS_RETENTION_MS (for tests: seconds, not hours) wins over _HOURS. */
function parseRetention(env: Env): number {
  if (env.get("CLAUDE_PEERS_RETENTION_MS")) {
    return parseInteger(env, "CLAUDE_PEERS_RETENTION_MS", 0, 1_000, 24 * 365 * 3_600_000);
  }
  return parseInteger(env, "CLAUDE_PEERS_RETENTION_HOURS", 24, 1, 24 * 365) * 3_600_000;
}

function parseChannel(raw: string | undefined): ChannelSetting {
  if (raw === undefined || raw === "") return "auto";
  if (raw === "on" || raw === "off" || raw === "auto") return raw;
  throw new Error(`Invalid CLAUDE_PEERS_CHANNEL "${raw}": expected on, off or auto`);
}

function parseClaudeSession(raw: string | undefined): string | undefined {
  return raw && CLAUDE_SESSION_PATTERN.test(raw) ? raw : undefined;
}

function parsePid(raw: string | undefined): number | undefined {
  const pid = Number(raw);
  return raw && Number.isInteger(pid) && pid > 1 ? pid : undefined;
}
