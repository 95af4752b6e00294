/**
 * set_summary: say what this session is working on, shown to other peers.
 *
 * @module
 */
import { z } from "../../vendor/zod_v3.js";
import type { McpServer } from "../../vendor/mcp_sdk.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { MAX_SUMMARY_CHARS } from "../../broker/protocol.ts";
import { withAdvice } from "../advice.ts";
import { textResult, type ToolContext } from "./context.ts";

/** Registers the set_summary tool. */
export function registerSetSummaryTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    "set_summary",
    {
      title: "Set summary",
      description:
        "Set a one or two sentence summary of what you are working on; other sessions see it in list_peers.",
      inputSchema: {
        summary: z.string().max(MAX_SUMMARY_CHARS).describe("What you are working on"),
      },
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    withAdvice(async ({ summary }: { summary: string }): Promise<CallToolResult> => {
      ctx.summarySetByModel = true;
      await ctx.connection.setSummary(summary);
      return await ctx.delivery.attachWaiting(textResult(`Summary set: ${summary || "(empty)"}`));
    }),
  );
}
