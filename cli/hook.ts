/**
 * `claude-peers hook <event>`: what Claude Code's hooks run. It never blocks or slows the
 * session: whatever goes wrong (no broker, no session, bad input), it exits 0 with nothing
 * printed.
 *
 * - `hook wait` (SessionStart and Stop, registered with `asyncRewake`): waits on the broker's
 *   push for messages to this Claude Code session, claims them, writes them to stderr and exits
 *   2, which wakes the session with them. A newer waiter of the same session replaces it (it
 *   exits 0); it exits 0 when the session ends or its messages go to a channel.
 * - `hook context` (UserPromptSubmit and PostToolUse): prints waiting messages as
 *   `additionalContext`, so a busy session sees them at its next tool call.
 *
 * @module
 */
import { setTimeout as delay } from "node:timers/promises";
import type { Config } from "../broker/config.ts";
import { HookCallError, HookClient } from "../broker/hook_client.ts";
import type { Message } from "../broker/protocol.ts";
import { CLAUDE_SESSION_PATTERN } from "../broker/wire.ts";
import { renderMessages } from "../broker/envelope.ts";
import { isRunning } from "../broker/processes.ts";
import { concatBytes } from "../broker/bytes.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./fail.ts";

/** `claude-peers hook wait|context`. */
export const hookCommand: Command = {
  name: "hook",
  summary: "run by Claude Code's hooks: wait for messages, or show waiting ones",
  help: `Usage: claude-peers hook wait|context

Run by the Claude Code hooks that "claude-peers install" adds; it reads the hook's JSON on stdin.
  wait      wait for messages to this session, then wake it with them (exit 2)
  context   print waiting messages as additionalContext for the next model request`,
  run: runHook,
};

/** How long the stdin JSON may take to arrive. */
const STDIN_MS = 2_000;
/** Longest hook input read. */
const MAX_STDIN_BYTES = 1024 * 1024;
/** How long `hook context` may take in all. */
const CONTEXT_DEADLINE_MS = 3_000;
/**
 * A wait the broker held this long found the session there: an absence after it starts over
 * (a broker answers at once when the session's server is away).
 */
const HELD_WAIT_MS = 1_000;
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
/** At SessionStart the session's MCP server may still be starting (and starting the broker). */
const STARTING_GRACE_MS = 10_000;

async function runHook(args: string[], config: Config): Promise<number> {
  const [event, ...rest] = args;
  if (rest.length > 0 || (event !== "wait" && event !== "context")) {
    throw new UsageError(`hook takes "wait" or "context", got "${args.join(" ")}"`);
  }
  const input = await readHookInput();
  const session = sessionOf(input, config);
  if (!session) return 0;
  const client = new HookClient(config, session);
  try {
    const name = eventName(input);
    return event === "wait"
      ? await waitForMessages(client, config, name === "SessionStart" ? STARTING_GRACE_MS : 0)
      : await printContext(client, name);
  } catch {
    return 0;
  }
}

interface HookInput {
  session_id?: unknown;
  hook_event_name?: unknown;
}

async function readHookInput(): Promise<HookInput> {
  try {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reading = (async () => {
      for await (const chunk of Deno.stdin.readable) {
        size += chunk.byteLength;
        if (size > MAX_STDIN_BYTES) break;
        chunks.push(chunk);
      }
    })();
    await Promise.race([reading, delay(STDIN_MS, undefined, { ref: false })]);
    const text = new TextDecoder().decode(concatBytes(chunks));
    const value = JSON.parse(text);
    return value && typeof value === "object" ? value : {};
  } catch {
    return {};
  }
}

/** The Claude Code session: the hook input's `session_id`, else `CLAUDE_CODE_SESSION_ID`. */
function sessionOf(input: HookInput, config: Config): string | undefined {
  const id = input.session_id;
  return typeof id === "string" && CLAUDE_SESSION_PATTERN.test(id) ? id : config.claudeSessionId;
}

function eventName(input: HookInput): string {
  const name = input.hook_event_name;
  return typeof name === "string" && /^[A-Za-z]{1,40}$/.test(name) ? name : "PostToolUse";
}

/**
 * `hook wait`: exit 2 with the messages on stderr, or 0 when there is nothing to wake for. No
 * broker or no registered session at first: exit at once (after `graceMs` at SessionStart);
 * lost later (a broker restart, an MCP server reconnecting): try again while the session lives,
 * for up to `config.hookRetryMs` of each absence.
 */
async function waitForMessages(
  client: HookClient,
  config: Config,
  graceMs: number,
): Promise<number> {
  const started = Date.now();
  let waited = false;
  let absentSince: number | undefined;
  let backoff = FIRST_BACKOFF_MS;
  for (;;) {
    const asked = Date.now();
    let messages: Message[] | undefined;
    try {
      const reply = await client.wait();
      if (reply.state === "replaced" || reply.state === "channel") return 0;
      if (reply.state === "messages") messages = reply.messages;
      waited = true;
    } catch (error) {
      if (!(error instanceof HookCallError)) throw error;
      // A broker that answered and then went away (killed during the first wait) is "lost
      // later": the session waits for the next broker.
      if (client.reached) waited = true;
    }
    if (messages && messages.length > 0) {
      await writeStderr(wakeText(messages));
      await client.ack(messages.map((message) => message.id)).catch(() => {});
      return 2;
    }
    // The broker restarts, or the session's MCP server is away: try again while the session
    // lives, for a while.
    const now = Date.now();
    if (now - asked >= HELD_WAIT_MS) {
      absentSince = undefined;
      backoff = FIRST_BACKOFF_MS;
    }
    if (!waited && now - started >= graceMs) return 0;
    absentSince ??= now;
    if (now - absentSince > config.hookRetryMs) return 0;
    if (config.claudePid !== undefined && !await isRunning(config.claudePid)) return 0;
    await delay(backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}

function wakeText(messages: Message[]): string {
  return `${renderMessages(messages)}\n`;
}

async function writeStderr(text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  for (let written = 0; written < bytes.length;) {
    written += await Deno.stderr.write(bytes.subarray(written));
  }
}

/** `hook context`: print waiting messages as additionalContext; always exit 0. */
async function printContext(client: HookClient, hookEventName: string): Promise<number> {
  const signal = AbortSignal.timeout(CONTEXT_DEADLINE_MS);
  const messages = await client.claim("hook_context", signal);
  if (messages.length === 0) return 0;
  const output = {
    hookSpecificOutput: { hookEventName, additionalContext: renderMessages(messages) },
  };
  const bytes = new TextEncoder().encode(JSON.stringify(output) + "\n");
  for (let written = 0; written < bytes.length;) {
    written += await Deno.stdout.write(bytes.subarray(written));
  }
  await client.ack(messages.map((message) => message.id)).catch(() => {});
  return 0;
}
