/**
 * registerTools(): every tool of the MCP server. Without channels, held messages ride along
 * with every tool result but check_messages, so they reach the model at its next tool use.
 *
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { formatMessages } from "../delivery.ts";
import type { ToolContext, ToolResult } from "./context.ts";
import { registerListPeersTool } from "./list_peers.ts";
import { registerSendMessageTool } from "./send_message.ts";
import { registerSetSummaryTool } from "./set_summary.ts";
import { registerCheckMessagesTool } from "./check_messages.ts";
import { registerWhoamiTool } from "./whoami.ts";

/** Registers list_peers, send_message, set_summary, check_messages and whoami. */
export function registerTools(server: McpServer, ctx: ToolContext): void {
  const wrap = (result: ToolResult): ToolResult => withHeldMessages(result, ctx);
  registerListPeersTool(server, ctx, wrap);
  registerSendMessageTool(server, ctx, wrap);
  registerSetSummaryTool(server, ctx, wrap);
  registerCheckMessagesTool(server, ctx);
  registerWhoamiTool(server, ctx, wrap);
}

function withHeldMessages(result: ToolResult, ctx: ToolContext): ToolResult {
  if (ctx.delivery.heldCount === 0) return result;
  const messages = ctx.delivery.takeHeld();
  const text = `New messages from other sessions:\n\n${formatMessages(messages)}`;
  return { ...result, content: [...result.content, { type: "text", text }] };
}
