/**
 * How a message reads to the model: the channel notification Claude Code shows as a
 * `<channel>` element, and the text a tool result carries when channels are off. Pure
 * functions only; deciding when a message is shown belongs to delivery.
 *
 * @module
 */
import type { Message } from "../broker/protocol.ts";

/** A channel notification's params: every meta value a string, every key an identifier. */
export interface ChannelNotification {
  content: string;
  meta: Record<string, string>;
}

/** Neutralises tags that could close or open a `<channel>` element in the model's view. */
export function neutralizeChannelTags(text: string): string {
  return text.replace(/<(\/?)(channel)/gi, "&lt;$1$2");
}

/** The channel notification for `message`. */
export function toChannelNotification(message: Message): ChannelNotification {
  return {
    content: neutralizeChannelTags(message.text),
    meta: {
      from_id: message.from_id,
      from_kind: message.from_kind,
      from_summary: neutralizeChannelTags(message.from_summary),
      from_cwd: message.from_cwd,
      sent_at: message.sent_at,
      message_id: message.id,
    },
  };
}

/** Readable text for messages shown in a tool result (no channel). */
export function formatMessages(messages: Message[]): string {
  return messages.map((message) => {
    const from = message.from_kind === "cli"
      ? `"${message.from_id}" (CLI)`
      : `peer ${message.from_id}${message.from_cwd ? ` in ${message.from_cwd}` : ""}`;
    const summary = message.from_summary ? `, working on: ${message.from_summary}` : "";
    return `Message ${message.id} from ${from}${summary}, sent ${message.sent_at}:\n${
      neutralizeChannelTags(message.text)
    }`;
  }).join("\n\n");
}
