/**
 * What the model reads when a tool fails: the broker's sentence, and what to do next in words
 * meant for a model (which tool to call), never a shell command. Branches on error codes only.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { BrokerError } from "../broker/client.ts";
import { errorMessage } from "../broker/log.ts";

const ADVICE: Partial<Record<BrokerError["code"], string>> = {
  peer_not_found: "Call list_peers to see the sessions that are connected now.",
  peer_gone:
    "That session has ended and will not read new messages; call list_peers to find an active session.",
  queue_full: "Wait until that session has read its messages, then send again.",
  name_taken: "Pick another name; list_peers shows the names in use.",
  message_not_found:
    "Check the message_id you answer; to start a new conversation, send without reply_to.",
  rate_limited:
    "Do not retry the broadcast now; send to the one peer who needs it, or wait the time named.",
  too_many_recipients: "Broadcast to a narrower scope (@repo or @directory), or send to names.",
  too_large: "Send a shorter message, or write the text to a file and send its path.",
  storage_full:
    "Nothing was sent. Tell the user that the disk holding the claude-peers database is full; once space is freed, send again (no restart needed).",
  unavailable: "The claude-peers broker is not answering; try again in a moment.",
  not_a_broker:
    'Nothing was sent. Tell the user that another program holds the claude-peers port and that "claude-peers doctor" shows which.',
  impostor:
    'Nothing was sent. Tell the user that another program holds the claude-peers port and that "claude-peers doctor" shows which.',
  session_unknown:
    "This session is reconnecting to the claude-peers broker; try again in a moment.",
  not_registered: "This session is reconnecting to the claude-peers broker; try again in a moment.",
};

/** Advice a tool gives instead of the general one, by error code. */
export type ToolAdvice = Partial<Record<BrokerError["code"], string>>;

/**
 * For send_message: a broker that did not answer may have stored the message all the same, and
 * sending it again would then deliver it twice.
 */
export const SEND_ADVICE: ToolAdvice = {
  unavailable:
    "The message may have been queued all the same: call check_messages, which lists what this session sent, before sending it again.",
};

/** An error result for the model: what went wrong and what to do. */
export function adviseModel(error: unknown, own: ToolAdvice = {}): CallToolResult {
  const advice = error instanceof BrokerError ? own[error.code] ?? ADVICE[error.code] : undefined;
  const text = advice ? `${errorMessage(error)}. ${advice}` : errorMessage(error);
  return { content: [{ type: "text", text }], isError: true };
}

/** Wraps a tool handler so a failure reaches the model as advice (`own` first). */
export function withAdvice<A extends unknown[]>(
  handler: (...args: A) => Promise<CallToolResult>,
  own: ToolAdvice = {},
): (...args: A) => Promise<CallToolResult> {
  return async (...args: A) => {
    try {
      return await handler(...args);
    } catch (error) {
      return adviseModel(error, own);
    }
  };
}
