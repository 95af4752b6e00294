/**
 * How a peer hears a message right now: pushed into its conversation (channel), woken or told
 * by its Claude Code hooks, or only when its model next calls a claude-peers tool.
 *
 * @module
 */
import type { DeliveryMode, PeerId } from "./protocol.ts";
import type { PeerRecord } from "./peers.ts";
import type { BrokerContext } from "./context.ts";

/** How `peer` hears a message now. */
export function deliveryOf(peer: PeerRecord, context: BrokerContext): DeliveryMode {
  if (peer.channel) return "channel";
  return context.waiters.hooksLive(peer.id, Date.now()) ? "hooks" : "tool_call";
}

/** How the live peer `id` hears a message; "tool_call" when it is not live. */
export async function recipientDelivery(id: PeerId, context: BrokerContext): Promise<DeliveryMode> {
  const peer = await context.registry.getPeer(id, Date.now());
  return peer ? deliveryOf(peer, context) : "tool_call";
}
