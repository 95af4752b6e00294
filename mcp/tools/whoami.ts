/**
 * whoami: this session's own peer id and details, so it can tell others how to reach it.
 *
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { textResult, type ToolContext, type ToolResult } from "./context.ts";

/** Registers the whoami tool. */
export function registerWhoamiTool(
  server: McpServer,
  ctx: ToolContext,
  wrap: (result: ToolResult) => ToolResult,
): void {
  server.registerTool("whoami", {
    description: "Show your own peer id, pid, working directory, repository and summary.",
    inputSchema: {},
  }, async () => {
    await ctx.connection.client();
    const { session, connection, delivery } = ctx;
    const lines = [
      `id: ${connection.peerId}`,
      `pid: ${session.pid}`,
      `cwd: ${session.cwd}`,
      `repo: ${session.repo ?? "(not in a git repository)"}`,
      `summary: ${connection.summary || "(none: call set_summary)"}`,
      `messages arrive: ${
        delivery.channel ? "as channel notifications" : "through check_messages and tool results"
      }`,
      `Other sessions reach you with send_message to_id "${connection.peerId}".`,
    ];
    return wrap(textResult(lines.join("\n")));
  });
}
