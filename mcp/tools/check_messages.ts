/**
 * check_messages: show messages waiting for this session (the fallback when channel pushes
 * are not shown) and the messages this session sent that are not delivered yet.
 *
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { formatMessages } from "../delivery.ts";
import { textResult, type ToolContext } from "./context.ts";

/** Registers the check_messages tool. */
export function registerCheckMessagesTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool("check_messages", {
    description:
      "Show new messages from other sessions, and which of your sent messages are not delivered yet.",
    inputSchema: {},
  }, async () => {
    const [{ messages }, { pending }] = await ctx.connection.call((client) =>
      Promise.all([client.inbox(), client.outbox()])
    );
    const shown = ctx.delivery.takeHeld(ctx.delivery.channel ? [] : messages);
    const parts = [shown.length > 0 ? formatMessages(shown) : "No new messages."];
    if (pending.length > 0) {
      const lines = pending.map((send) =>
        `- ${send.message_id} to ${send.to_id}, sent ${send.sent_at}${
          send.recipient_connected ? "" : " (recipient not connected)"
        }`
      );
      parts.push(`Your messages not yet delivered:\n${lines.join("\n")}`);
    }
    return textResult(parts.join("\n\n"));
  });
}
