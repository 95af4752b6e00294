/**
 * whoami: this session's own name, peer id and details, so it can tell others how to reach it.
 *
 * @module
 */
import type { McpServer } from "../../broker/_vendor/mcp_sdk.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { withAdvice } from "../advice.ts";
import { textResult, type ToolContext } from "./context.ts";

/** Registers the whoami tool. */
export function registerWhoamiTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    "whoami",
    {
      title: "Who am I",
      description:
        "Show your own name, peer id, pid, working directory, repository, branch and summary.",
      inputSchema: {},
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    withAdvice(async (): Promise<CallToolResult> => {
      // The broker's record, fresh: a person may have renamed this session.
      const { self } = await ctx.connection.call((client) => client.listPeers("machine"));
      if (self) ctx.connection.noteName(self.name);
      const { session, connection, delivery } = ctx;
      const lines = [
        `name: ${connection.name ?? connection.peerId}`,
        `id: ${connection.peerId}`,
        `pid: ${session.pid}`,
        `cwd: ${session.cwd}`,
        `repo: ${session.repo ?? "(not in a git repository)"}`,
        `branch: ${session.branch ?? "(none)"}`,
        `summary: ${(self?.summary ?? connection.summary) || "(none: call set_summary)"}`,
        `messages arrive: ${
          delivery.channel ? "as channel notifications" : "through check_messages and tool results"
        }`,
        `Other sessions reach you with send_message to_id "${connection.name}" (or "${connection.peerId}").`,
      ];
      return await delivery.attachWaiting(textResult(lines.join("\n")));
    }),
  );
}
