/**
 * The top-level help text.
 *
 * @module
 */

/** Help for the binary. */
export const MAIN_HELP =
  `claude-peers: lets the Claude Code sessions on this machine find each other and talk.

Usage: claude-peers <command> [options]

Commands:
  mcp           run the stdio MCP server (Claude Code starts this)
  broker        run the broker in the foreground
  status        show whether the broker runs, and its peers
  peers         list the peers (--json for JSON)
  send          send a message to a peer: send <peer-id> [message...]
  kill-broker   stop the broker cleanly
  install       register claude-peers with Claude Code (--scope user|project)
  uninstall     remove the registration (--purge: also the database, secret and log)
  doctor        check the set-up and explain how to fix problems

Options:
  -h, --help      show help (also after a command)
  -V, --version   show the version

Environment:
  CLAUDE_PEERS_PORT      broker port (default 7899)
  CLAUDE_PEERS_DB        database file (default ~/.claude-peers.db)
  CLAUDE_PEERS_CHANNEL   on | off | auto: push messages as channel notifications
  OPENAI_API_KEY         enables the auto-summary`;

/** Help for `broker`. */
export const BROKER_HELP = `Usage: claude-peers broker [--log-file PATH]

Runs the broker in the foreground on 127.0.0.1:$CLAUDE_PEERS_PORT (default 7899).
Claude Code sessions start it in the background on their own; run it yourself to watch it.

Options:
  --log-file PATH   write diagnostics to PATH instead of stderr`;

/** Help for `mcp`. */
export const MCP_HELP = `Usage: claude-peers mcp

Runs the stdio MCP server. Register it with Claude Code:
  claude mcp add --scope user --transport stdio claude-peers -- claude-peers mcp`;
