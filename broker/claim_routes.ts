/**
 * The routes that hand messages to a presenter: POST /claim (the MCP server's tool results and
 * check_messages, or a command hook), POST /wait (a waiting hook) and POST /hook/context
 * (Claude Code's HTTP hooks, with the hook token instead of the secret). Each message goes to
 * one presenter only; under channel mode the hooks get nothing.
 *
 * @module
 */
import {
  CLAIM_MS,
  ClaimRequest,
  type ClaimResponse,
  type HookContextReply,
  HookInput,
} from "./protocol.ts";
import type { BrokerContext } from "./context.ts";
import { json, jsonThen, readJson } from "./http.ts";
import { callerOf, requireHookToken } from "./auth.ts";
import { deliveryOf } from "./delivery_mode.ts";
import { renderMessages } from "./envelope.ts";
import { errorMessage, log } from "./log.ts";

export async function claim(request: Request, context: BrokerContext): Promise<Response> {
  const body = await readJson(request, ClaimRequest);
  const { peerId, hook } = await callerOf(request, context.registry);
  const now = Date.now();
  const peer = await context.registry.getPeer(peerId, now);
  if (hook) context.waiters.noteHook(peerId, now);
  // A tool call or a hook of the session: its model is at work.
  context.registry.noteActivity(peerId, now);
  const delivery = peer ? deliveryOf(peer, context) : "tool_call";
  // Under channel mode the session's messages are pushed; its hooks stay silent.
  if (hook && delivery === "channel") {
    return json({ messages: [], delivery, more: false } as ClaimResponse);
  }
  const { messages, more } = await context.mailbox.claim(peerId, now, CLAIM_MS, body.presenter);
  if (messages.length > 0) {
    log(`${messages.length} messages claimed by ${body.presenter} of ${peerId}`);
  }
  return json({ messages, delivery, more } as ClaimResponse);
}

/**
 * POST /hook/context?token=T: Claude Code's HTTP hook for UserPromptSubmit and PostToolUse. The
 * body is the hook's JSON; the reply puts the session's claimed messages in front of the model
 * as `additionalContext`, and they are acknowledged once the reply has been written.
 */
export async function hookContext(request: Request, context: BrokerContext): Promise<Response> {
  requireHookToken(request, context.hookToken);
  const input = await readJson(request, HookInput);
  const now = Date.now();
  const peerId = await context.registry.peerForClaudeSession(input.session_id, now);
  const peer = peerId ? await context.registry.getPeer(peerId, now) : null;
  if (!peer) return json({});
  context.registry.noteActivity(peer.id, now);
  if (peer.channel) return json({});
  context.waiters.noteHook(peer.id, now);
  const { messages } = await context.mailbox.claim(peer.id, now, CLAIM_MS, "hook_context");
  if (messages.length === 0) return json({});
  const reply: HookContextReply = {
    hookSpecificOutput: {
      hookEventName: input.hook_event_name,
      additionalContext: renderMessages(messages),
    },
  };
  const ids = messages.map((message) => message.id);
  return jsonThen(reply, () => {
    context.mailbox.ack(peer.id, ids, { via: "hook" }).catch((error) =>
      log(`could not acknowledge hook messages of ${peer.id}: ${errorMessage(error)}`)
    );
  });
}

export async function wait(request: Request, context: BrokerContext): Promise<Response> {
  const { peerId } = await callerOf(request, context.registry);
  const now = Date.now();
  const peer = await context.registry.getPeer(peerId, now);
  if (!peer) return json({ state: "absent" });
  if (peer.channel) return json({ state: "channel" });
  context.waiters.noteHook(peerId, now);
  return json(await context.waiters.wait(peerId, request.signal));
}
