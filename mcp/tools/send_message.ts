/**
 * send_message: queue a message for another peer (by id or name), or for every live peer of a
 * scope (`@repo`, `@directory`, `@machine`), or answer a message with `reply_to`. The broker
 * stamps the sender and the thread; a retry after a broker restart carries the same
 * idempotency key, so the message is queued once.
 *
 * @module
 */
import { z } from "../../broker/_vendor/zod_v3.js";
import type { McpServer } from "../../broker/_vendor/mcp_sdk.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { SendResponse } from "../../broker/protocol.ts";
import { SEND_ADVICE, withAdvice } from "../advice.ts";
import { hearing } from "../present.ts";
import { textResult, type ToolContext } from "./context.ts";

interface SendArgs {
  to_id?: string | undefined;
  message: string;
  reply_to?: string | undefined;
}

/** Registers the send_message tool. */
export function registerSendMessageTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    "send_message",
    {
      title: "Send message",
      description:
        'Send a message to another Claude Code session by peer id or name, or to everyone in "@repo", "@directory" or "@machine". To answer a message, pass reply_to (its message_id): the reply goes to its sender only.',
      inputSchema: {
        to_id: z.string().max(64).optional().describe(
          "Peer id, peer name or @scope; optional with reply_to",
        ),
        message: z.string().min(1).describe("The message text"),
        reply_to: z.string().max(64).optional().describe("The message_id you answer"),
      },
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: false,
        openWorldHint: false,
      },
    },
    withAdvice(async ({ to_id, message, reply_to }: SendArgs): Promise<CallToolResult> => {
      // The key makes a retry after a broker restart queue the message once.
      const reply = await ctx.sends.send({
        ...(to_id === undefined ? {} : { to_id }),
        ...(reply_to === undefined ? {} : { reply_to }),
        text: message,
        idempotency_key: crypto.randomUUID(),
      });
      return await ctx.delivery.attachWaiting(textResult(describeSent(reply)));
    }, SEND_ADVICE),
  );
}

/** What the model reads about a sent message: where it went, how each recipient hears it. */
export function describeSent(reply: SendResponse): string {
  const thread = reply.reply_to ? ` in thread ${reply.thread_id}` : "";
  if (reply.broadcast === null) {
    const state = reply.recipient_connected
      ? `it is connected; ${hearing(reply.recipient_delivery)}`
      : "it is not connected right now; the message waits in its inbox";
    return `Sent message ${reply.message_id}${thread} to ${reply.to_name} (${reply.to_id}): ${state}.`;
  }
  const lines = reply.copies.map((copy) =>
    `- ${copy.to_name} (${copy.to_id}): message ${copy.message_id}, ${
      copy.recipient_connected ? hearing(copy.recipient_delivery) : "not connected right now"
    }`
  );
  if (reply.skipped.length > 0) {
    lines.push(`Skipped (inbox full): ${reply.skipped.join(", ")}`);
  }
  return `Broadcast to ${reply.broadcast}${thread}, ${reply.copies.length} peer${
    reply.copies.length === 1 ? "" : "s"
  } (thread ${reply.thread_id}):\n${lines.join("\n")}`;
}
