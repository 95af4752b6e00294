/**
 * check_messages: show messages waiting for this session (the fallback when channel pushes
 * are not shown) and the messages this session sent that are not delivered yet.
 *
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
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
      if (pending.length > 0) {
        // Recipients by name too; one that has left keeps its id only.
        const { peers } = await ctx.connection.call((client) => client.listPeers("machine"));
        const names = new Map(peers.map((peer) => [peer.id, peer.name]));
        parts.push(formatPending(pending, names));
      }
      return textResult(parts.join("\n\n"));
    }),
  );
}

function formatPending(pending: OutboxResponse["pending"], names: Map<string, string>): string {
  const lines = pending.map((send) =>
    `- ${send.message_id} to ${
      names.has(send.to_id) ? `${names.get(send.to_id)} (${send.to_id})` : send.to_id
    }, sent ${send.sent_at}${
      send.recipient_connected
        ? ` (${hearing(send.recipient_delivery)})`
        : " (recipient not connected)"
    }`
  );
  return `Your messages not yet delivered:\n${lines.join("\n")}`;
}
