/**
 * whoami: this session's own peer id and details, so it can tell others how to reach it.
 *
 * @module
 */
import type { McpServer } from "../../vendor/mcp_sdk.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { withAdvice } from "../advice.ts";
import { textResult, type ToolContext } from "./context.ts";

/** Registers the whoami tool. */
export function registerWhoamiTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    "whoami",
    {
      title: "Who am I",
      description: "Show your own peer id, pid, working directory, repository and summary.",
      inputSchema: {},
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    withAdvice(async (): Promise<CallToolResult> => {
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
      return await delivery.attachWaiting(textResult(lines.join("\n")));
    }),
  );
}
