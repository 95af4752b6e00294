/**
 * list_peers: the other sessions on this machine, in this directory or in this repository.
 *
 * @module
 */
import { z } from "../../broker/_vendor/zod_v3.js";
import type { McpServer } from "../../broker/_vendor/mcp_sdk.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { type Peer, Scope } from "../../broker/protocol.ts";
import { withAdvice } from "../advice.ts";
import { escapeAttribute } from "../../broker/envelope.ts";
import { hearing } from "../present.ts";
import { textResult, type ToolContext } from "./context.ts";

/** Registers the list_peers tool. */
export function registerListPeersTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    "list_peers",
    {
      title: "List peers",
      description:
        'List other Claude Code sessions with their names and ids. scope: "machine" (all), "directory" (same working directory) or "repo" (same git repository, worktrees included).',
      inputSchema: { scope: Scope.default("machine").describe("Which peers to list") },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    withAdvice(async ({ scope }: { scope: z.infer<typeof Scope> }): Promise<CallToolResult> => {
      const { peers, self } = await ctx.connection.call((client) => client.listPeers(scope));
      if (self) ctx.connection.noteName(self.name);
      const you = self ? `\nYou are ${self.name} (id: ${self.id}).` : "";
      return await ctx.delivery.attachWaiting(textResult(formatPeers(peers, scope) + you));
    }),
  );
}

/** Readable peer listing for the model; what a peer controls is escaped and quoted. */
export function formatPeers(peers: Peer[], scope: z.infer<typeof Scope>): string {
  if (peers.length === 0) return `No other peers (scope: ${scope}).`;
  const lines = peers.map((peer) => {
    const details = [`id: ${peer.id}`, `pid ${peer.pid}`, `cwd "${escapeAttribute(peer.cwd)}"`];
    if (peer.repo) details.push(`repo "${escapeAttribute(peer.repo)}"`);
    if (peer.branch) details.push(`branch "${escapeAttribute(peer.branch)}"`);
    if (peer.tty) details.push(`tty "${escapeAttribute(peer.tty)}"`);
    const summary = peer.summary ? `\n  summary: ${escapeAttribute(peer.summary)}` : "";
    return `- ${escapeAttribute(peer.name)} (${details.join(", ")})${summary}\n  hears you: ${
      hearing(peer.delivery)
    }\n  last active: ${peer.last_active}`;
  });
  return `${peers.length} peer${peers.length === 1 ? "" : "s"} (scope: ${scope}):\n${
    lines.join("\n")
  }`;
}
