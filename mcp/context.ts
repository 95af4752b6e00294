/**
 * What the MCP server knows about its session: process ids, working directory, git
 * repository (read through broker/git.ts, shared with the CLI) and the command line of the
 * Claude Code process that started it. Read once at start-up; nothing here talks to the broker.
 *
 * @module
 */
import type { ChannelSetting } from "../broker/config.ts";
import { type GitFacts, readGitFacts } from "../broker/git.ts";
import { processTable, ps } from "../broker/processes.ts";

/** The session this MCP server serves. */
export interface SessionContext extends GitFacts {
  pid: number;
  ppid: number;
  cwd: string;
  tty: string | null;
}

/**
 * The session context and whether channels are on, read together: both start processes (git,
 * ps), so `claude-peers mcp` starts them before it loads the MCP SDK, and they run meanwhile.
 */
export function readStartFacts(channel: ChannelSetting): Promise<[SessionContext, boolean]> {
  return Promise.all([readSessionContext(), detectChannelMode(channel, Deno.ppid)]);
}

/** Reads the session context of this process. */
export async function readSessionContext(): Promise<SessionContext> {
  const cwd = Deno.cwd();
  const [facts, tty] = await Promise.all([readGitFacts(cwd), parentTty(Deno.ppid)]);
  return { pid: Deno.pid, ppid: Deno.ppid, cwd, ...facts, tty };
}

async function parentTty(ppid: number): Promise<string | null> {
  const tty = await ps(ppid, "tty=");
  return tty && tty !== "?" && tty !== "??" ? tty : null;
}

const CHANNEL_FLAGS = ["--dangerously-load-development-channels", "--channels"];

/**
 * Whether Claude Code will show channel notifications. It gives the server no sign of that,
 * so look at how it was launched: a channel flag naming claude-peers on an ancestor's
 * command line. The setting "on"/"off" overrides the guess.
 */
export async function detectChannelMode(setting: ChannelSetting, ppid: number): Promise<boolean> {
  if (setting !== "auto") return setting === "on";
  const table = await processTable();
  let pid = ppid;
  for (let depth = 0; depth < 3 && pid > 1; depth++) {
    const entry = table?.get(pid);
    if (entry === undefined) return false;
    if (namesChannel(entry.args)) return true;
    pid = entry.ppid;
  }
  return false;
}

/** Whether `args` carry a channel flag whose value names claude-peers. */
export function namesChannel(args: string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    for (const flag of CHANNEL_FLAGS) {
      if (arg.startsWith(`${flag}=`) && arg.includes("claude-peers")) return true;
      if (arg !== flag) continue;
      for (let j = i + 1; j < args.length && !args[j]!.startsWith("-"); j++) {
        if (args[j]!.includes("claude-peers")) return true;
      }
    }
  }
  return false;
}
