/**
 * `claude-peers mcp`: run the stdio MCP server that Claude Code starts. The server's code
 * (and the MCP SDK) is imported only when this command runs, so no other mode loads it.
 *
 * @module
 */
import type { Config } from "../broker/config.ts";
import { setLogPrefix } from "../broker/log.ts";
import { type Command, parseNoArguments } from "./command.ts";

/** `claude-peers mcp`. */
export const mcpCommand: Command = {
  name: "mcp",
  summary: "run the stdio MCP server (Claude Code starts this)",
  help: `Usage: claude-peers mcp

Runs the stdio MCP server. Register it with Claude Code:
  claude mcp add --scope user --transport stdio claude-peers -- claude-peers mcp`,
  run: runMcpCommand,
};

async function runMcpCommand(args: string[], config: Config): Promise<number> {
  await parseNoArguments(args);
  setLogPrefix("claude-peers mcp");
  // Registered before the MCP SDK loads: evaluating it blocks the event loop for ~20-30 ms,
  // which would hold up the broker's replies (start-up, issue 11).
  const started = await (await import("../mcp/start.ts")).startSession(config);
  // Loaded per mode: the broker never loads the MCP SDK, the MCP server never the broker.
  const { runMcp } = await import("../mcp/mod.ts");
  await runMcp(config, started);
  return 0;
}
