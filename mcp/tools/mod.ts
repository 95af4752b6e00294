/**
 * registerTools(): every tool of the MCP server. Each tool hands its result to delivery,
 * which decides what rides along; this module only wires.
 *
 * @module
 */
import type { McpServer } from "../../broker/_vendor/mcp_sdk.js";
import type { ToolContext } from "./context.ts";
import { registerListPeersTool } from "./list_peers.ts";
import { registerSendMessageTool } from "./send_message.ts";
import { registerSetSummaryTool } from "./set_summary.ts";
import { registerCheckMessagesTool } from "./check_messages.ts";
import { registerWhoamiTool } from "./whoami.ts";

/** Registers list_peers, send_message, set_summary, check_messages and whoami. */
export function registerTools(server: McpServer, ctx: ToolContext): void {
  registerListPeersTool(server, ctx);
  registerSendMessageTool(server, ctx);
  registerSetSummaryTool(server, ctx);
  registerCheckMessagesTool(server, ctx);
  registerWhoamiTool(server, ctx);
}
