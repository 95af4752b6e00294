/**
 * check_messages: show messages waiting for this session (the fallback when channel pushes
 * are not shown) and what became of this session's last sent messages: queued, delivered
 * (when and how) or expired.
 *
 * @module
 */
import type { McpServer } from "../../broker/_vendor/mcp_sdk.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { SentStatus } from "../../broker/protocol.ts";
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
        "Show new messages from other sessions, and whether your recent messages were delivered.",
      inputSchema: {},
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    withAdvice(async (): Promise<CallToolResult> => {
      const [shown, { sent }] = await Promise.all([
        ctx.delivery.presentNew(),
        ctx.connection.call((client) => client.outbox()),
      ]);
      const parts = [shown];
      if (sent.length > 0) {
        // Recipients by name too; one that has left keeps its id only.
        const { peers } = await ctx.connection.call((client) => client.listPeers("machine"));
        const names = new Map(peers.map((peer) => [peer.id, peer.name]));
        parts.push(...formatSent(sent, names));
      }
      return textResult(parts.join("\n\n"));
    }),
  );
}

/** The session's recent sends: the queued ones first, then what was delivered or expired. */
function formatSent(sent: SentStatus[], names: Map<string, string>): string[] {
  const to = (id: string) => names.has(id) ? `${names.get(id)} (${id})` : id;
  const queued = sent.filter((send) => send.state === "queued");
  const settled = sent.filter((send) => send.state !== "queued");
  const parts: string[] = [];
  if (queued.length > 0) {
    const lines = queued.map((send) =>
      `- ${send.message_id} to ${to(send.to_id)}, sent ${send.sent_at}${
        send.recipient_connected
          ? ` (${hearing(send.recipient_delivery)})`
          : " (recipient not connected)"
      }`
    );
    parts.push(`Your messages not yet delivered:\n${lines.join("\n")}`);
  }
  if (settled.length > 0) {
    const lines = settled.map((send) =>
      `- ${send.message_id} to ${to(send.to_id)}, sent ${send.sent_at}: ${
        send.state === "delivered"
          ? `delivered ${send.state_at} via ${send.via ?? "channel"}`
          : `expired ${send.state_at}, never shown`
      }`
    );
    parts.push(`Your recent messages delivered or expired:\n${lines.join("\n")}`);
  }
  return parts;
}
