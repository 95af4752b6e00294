/**
 * createServer(): the MCP server with its tools and the claude/channel capability, kept
 * apart from the transport so tests can link it in memory.
 *
 * @module
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { VERSION } from "../broker/config.ts";
import { INSTRUCTIONS } from "./instructions.ts";
import { registerTools } from "./tools/mod.ts";
import type { ToolContext } from "./tools/context.ts";
import type { ChannelNotification } from "./delivery.ts";

/** The MCP server and a way to push channel notifications through it. */
export interface PeerServer {
  server: McpServer;
  notifyChannel: (notification: ChannelNotification) => Promise<void>;
  close: () => Promise<void>;
}

/** Builds the server; `ctx` is filled in by the caller before the first tool call. */
export function createServer(ctx: ToolContext): PeerServer {
  const server = new McpServer(
    { name: "claude-peers", version: VERSION },
    {
      capabilities: { tools: {}, experimental: { "claude/channel": {} } },
      instructions: INSTRUCTIONS,
    },
  );
  registerTools(server, ctx);
  return {
    server,
    notifyChannel: (notification) =>
      server.server.notification({
        method: "notifications/claude/channel",
        params: { content: notification.content, meta: notification.meta },
      }),
    close: () => server.close(),
  };
}
