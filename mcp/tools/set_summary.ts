/**
 * set_summary: say what this session is working on, shown to other peers, and optionally take
 * a name they can address it by.
 *
 * @module
 */
import { z } from "../../broker/_vendor/zod_v3.js";
import type { McpServer } from "../../broker/_vendor/mcp_sdk.js";
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
        "Set a one or two sentence summary of what you are working on; other sessions see it in list_peers. Optionally set your name (a-z 0-9 . _ -).",
      inputSchema: {
        summary: z.string().max(MAX_SUMMARY_CHARS).optional().describe("What you are working on"),
        name: z.string().max(64).optional().describe("A new name for this session"),
      },
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    withAdvice(
      async (
        { summary, name }: { summary?: string | undefined; name?: string | undefined },
      ): Promise<CallToolResult> => {
        if (summary === undefined && name === undefined) {
          return { ...textResult("Give a summary, a name, or both."), isError: true };
        }
        if (summary !== undefined) ctx.summarySetByModel = true;
        const reply = await ctx.connection.setSummary({
          ...(summary === undefined ? {} : { summary }),
          ...(name === undefined ? {} : { name }),
        });
        const lines: string[] = [];
        if (name !== undefined) lines.push(`Name set: ${reply.name}`);
        if (summary !== undefined) lines.push(`Summary set: ${reply.summary || "(empty)"}`);
        return await ctx.delivery.attachWaiting(textResult(lines.join("\n")));
      },
    ),
  );
}
