/**
 * `claude-peers mcp`: run the stdio MCP server that Claude Code starts. The server's code
 * (and the MCP SDK) is imported only when this command runs, so no other mode loads it.
 *
 * @module
 */
import type { Config } from "../broker/config.ts";
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
  // The session's git and ps processes run while the MCP SDK loads (start-up, issue 11).
  const facts = (await import("../mcp/context.ts")).readStartFacts(config);
  // Loaded per mode: the broker never loads the MCP SDK, the MCP server never the broker.
  const { runMcp } = await import("../mcp/mod.ts");
  await runMcp(config, facts);
  return 0;
}
