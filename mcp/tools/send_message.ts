/**
 * send_message: queue a message for another peer. The broker stamps the sender; a retry after
 * a broker restart carries the same idempotency key, so the message is queued once.
 *
 * @module
 */
import { z } from "../../vendor/zod_v3.js";
import type { McpServer } from "../../vendor/mcp_sdk.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { PeerId } from "../../broker/protocol.ts";
import { withAdvice } from "../advice.ts";
import { hearing } from "../present.ts";
import { textResult, type ToolContext } from "./context.ts";

/** Registers the send_message tool. */
export function registerSendMessageTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    "send_message",
    {
      title: "Send message",
      description:
        "Send a message to another Claude Code session by its peer id (from list_peers or a message's from_id). It arrives in that session at once.",
      inputSchema: {
        to_id: PeerId.describe("The recipient's peer id"),
        message: z.string().min(1).describe("The message text"),
      },
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: false,
        openWorldHint: false,
      },
    },
    withAdvice(
      async ({ to_id, message }: { to_id: string; message: string }): Promise<CallToolResult> => {
        // The key makes a retry after a broker restart queue the message once.
        const reply = await ctx.sends.send({
          to_id,
          text: message,
          idempotency_key: crypto.randomUUID(),
        });
        const state = reply.recipient_connected
          ? `it is connected; ${hearing(reply.recipient_delivery)}`
          : "it is not connected right now; the message waits in its inbox";
        const text = `Sent message ${reply.message_id} to ${to_id}: ${state}.`;
        return await ctx.delivery.attachWaiting(textResult(text));
      },
    ),
  );
}
