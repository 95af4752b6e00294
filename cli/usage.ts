/**
 * The top-level help text. Its command list comes from the command table, so a command is
 * named in one place only.
 *
 * @module
 */
import type { Command } from "./command.ts";

/** Help for the binary, listing `commands` with their summaries. */
export function mainHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => command.name.length)) + 3;
  const list = commands.map((command) => `  ${command.name.padEnd(width)}${command.summary}`);
  return `claude-peers: lets the Claude Code sessions on this machine find each other and talk.

Usage: claude-peers <command> [options]

Commands:
${list.join("\n")}

Options:
  -h, --help      show help (also after a command)
  -V, --version   show the version

Environment:
  CLAUDE_PEERS_PORT      broker port (default 7899)
  CLAUDE_PEERS_DB        database file (default ~/.claude-peers.db)
  CLAUDE_PEERS_CHANNEL   on | off | auto: push messages as channel notifications
  CLAUDE_PEERS_HISTORY_DAYS, CLAUDE_PEERS_HISTORY_MAX
                         how long (default 7) and how many (10000) delivered messages are kept
  OPENAI_API_KEY         enables the auto-summary`;
}
