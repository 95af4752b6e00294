/**
 * check_messages: show messages waiting for this session (the fallback when channel pushes
 * are not shown) and the messages this session sent that are not delivered yet.
 *
 * @module
 */
import type { McpServer } from "../../vendor/mcp_sdk.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { OutboxResponse } from "../../broker/protocol.ts";
import { hearing } from "../present.ts";
import { withAdvice } from "../advice.ts";
import { textResult, type ToolContext } from "./context.ts";

/** Registers the check_messages tool. */
export function registerCheckMessagesTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    "check_messages",
    {
      title: "Check messages",
      description:
        "Show new messages from other sessions, and which of your sent messages are not delivered yet.",
      inputSchema: {},
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    withAdvice(async (): Promise<CallToolResult> => {
      const [shown, { pending }] = await Promise.all([
        ctx.delivery.presentNew(),
        ctx.connection.call((client) => client.outbox()),
      ]);
      const parts = [shown];
      if (pending.length > 0) parts.push(formatPending(pending));
      return textResult(parts.join("\n\n"));
    }),
  );
}

function formatPending(pending: OutboxResponse["pending"]): string {
  const lines = pending.map((send) =>
    `- ${send.message_id} to ${send.to_id}, sent ${send.sent_at}${
      send.recipient_connected
        ? ` (${hearing(send.recipient_delivery)})`
        : " (recipient not connected)"
    }`
  );
  return `Your messages not yet delivered:\n${lines.join("\n")}`;
}
