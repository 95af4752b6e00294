/**
 * How a message reads to the model: the channel notification Claude Code shows as a
 * `<channel>` element, and the text a tool result carries when channels are off. Both escape
 * what a peer wrote with `broker/envelope.ts`, so no text can end its element or forge another
 * message. Pure functions only; deciding when a message is shown belongs to delivery.
 *
 * @module
 */
import type { DeliveryMode, Message } from "../broker/protocol.ts";
import { escapeAttribute, escapeBody } from "../broker/envelope.ts";

/** A channel notification's params: every meta value a string, every key an identifier. */
export interface ChannelNotification {
  content: string;
  meta: Record<string, string>;
}

/** The channel notification for `message`; thread facts only when it has them. */
export function toChannelNotification(message: Message): ChannelNotification {
  const meta: Record<string, string> = {
    from_id: escapeAttribute(message.from_id),
    from_name: escapeAttribute(message.from_name),
    from_kind: message.from_kind,
    from_summary: escapeAttribute(message.from_summary),
    from_cwd: escapeAttribute(message.from_cwd),
    sent_at: message.sent_at,
    message_id: escapeAttribute(message.id),
    thread_id: escapeAttribute(message.thread_id),
  };
  if (message.reply_to !== null) meta.reply_to = escapeAttribute(message.reply_to);
  if (message.broadcast !== null) meta.broadcast = escapeAttribute(message.broadcast);
  return { content: escapeBody(message.text), meta };
}

/** After a page of messages, when the broker holds more than one claim takes. */
export const MORE_WAITING = "More messages are waiting: call check_messages to see them.";

/** How a recipient hears a message, for the model. */
export function hearing(delivery: DeliveryMode): string {
  if (delivery === "channel") return "reached live: pushed into its conversation";
  if (delivery === "hooks") return "reached live: its Claude Code hooks wake it";
  return "it sees messages only when it next calls a claude-peers tool";
}
