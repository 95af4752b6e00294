/**
 * What the MCP server knows about its session: process ids, working directory, git
 * repository (read through broker/git.ts, shared with the CLI) and the command line of the
 * Claude Code process that started it. Read once at start-up; nothing here talks to the broker.
 *
 * @module
 */
import type { Config } from "../broker/config.ts";
import { type GitFacts, readGitFacts } from "../broker/git.ts";
import { type ProcessEntry, processTable, ps } from "../broker/processes.ts";

/** The session this MCP server serves. */
export interface SessionContext extends GitFacts {
  pid: number;
  ppid: number;
  cwd: string;
  tty: string | null;
}

/**
 * The session context and whether channels are on, read together, each process started once:
 * `claude-peers mcp` registers with them before it loads the MCP SDK. Guessing the channel
 * mode takes the whole process table, which has the parent's terminal too; otherwise one `ps`
 * asks for that alone. The git facts come from the repository's files where they can.
 */
export function readStartFacts(
  config: Pick<Config, "channel" | "gitRelocated">,
): Promise<[SessionContext, boolean]> {
  const ppid = Deno.ppid;
  const table = config.channel === "auto" ? processTable() : undefined;
  const tty = table ? table.then((entries) => ttyName(entries?.get(ppid)?.tty)) : parentTty(ppid);
  const channel = table
    ? table.then((entries) => channelNamedIn(entries, ppid))
    : Promise.resolve(config.channel === "on");
  const cwd = Deno.cwd();
  const session = Promise.all([readGitFacts(cwd, { readFiles: !config.gitRelocated }), tty])
    .then(([facts, tty]): SessionContext => ({ pid: Deno.pid, ppid, cwd, ...facts, tty }));
  return Promise.all([session, channel]);
}

async function parentTty(ppid: number): Promise<string | null> {
  return ttyName(await ps(ppid, "tty=") ?? undefined);
}

/** A terminal as `ps` names it, or null for none ("?" on Linux, "??" on macOS). */
function ttyName(tty: string | undefined): string | null {
  return tty && tty !== "?" && tty !== "??" ? tty : null;
}

const CHANNEL_FLAGS = ["--dangerously-load-development-channels", "--channels"];

/**
 * Whether Claude Code will show channel notifications, when the setting is "auto". It gives
 * the server no sign of that, so look at how it was launched: a channel flag naming
 * claude-peers on the command line of `ppid` or one of its two nearest ancestors in `table`.
 */
function channelNamedIn(table: Map<number, ProcessEntry> | null, ppid: number): boolean {
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
