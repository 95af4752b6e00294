export { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
export { deserializeMessage, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js";
