/**
 * What every tool gets: the broker connection, the delivery of incoming messages and the
 * session facts. Tools read from here and never reach for globals.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { PeerConnection } from "../connection.ts";
import type { Delivery } from "../delivery.ts";
import type { SessionContext } from "../context.ts";
import type { SendQueue } from "../send_queue.ts";

/** Shared state for the tools of one MCP server. */
export interface ToolContext {
  connection: PeerConnection;
  delivery: Delivery;
  /** This server's outgoing messages, in order. */
  sends: SendQueue;
  session: SessionContext;
  /** Set once the model calls set_summary: the auto-summary must not overwrite its words. */
  summarySetByModel: boolean;
}

/** A text result. */
export function textResult(text: string): CallToolResult {
  return { content: [{ type: "text", text }] };
}
