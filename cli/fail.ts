/**
 * The CLI's one exit path for errors, and its output helpers. Only main.ts and cli/ exit
 * the process.
 *
 * @module
 */
import type { BrokerError } from "../broker/client.ts";
import { terminalSafeLines } from "./terminal_safe.ts";

/** A mistake on the command line: exit code 2 with the usage. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Prints one line to stdout. */
export function print(text: string): void {
  // deno-lint-ignore no-console
  console.log(text);
}

/** Prints one line to stderr. */
export function printError(text: string): void {
  // deno-lint-ignore no-console
  console.error(text);
}

/** What a person can do about a broker refusal, by its code. */
const ADVICE: Partial<Record<BrokerError["code"], string>> = {
  peer_not_found: 'run "claude-peers peers" to see the sessions that are connected',
  peer_gone: 'its session has ended; run "claude-peers peers" to find an active one',
  queue_full: "wait until that session has read its messages, then send again",
  name_taken: 'pick another name; "claude-peers peers" shows the names in use',
  rate_limited: "wait the time named, or send to one session by name",
  too_many_recipients: "send to names instead",
  too_large: "send a shorter message, or a file path",
  storage_full: "free some space on the disk holding the claude-peers database, then try again",
  unavailable: 'start one with "claude-peers broker", or run "claude-peers doctor"',
  unauthorized: 'run "claude-peers doctor"',
  impostor: 'run "claude-peers doctor" to see who holds the port',
  not_a_broker: 'run "claude-peers doctor" to see who holds the port',
};

/** Reports `error` on stderr and exits: 2 for usage errors (with `usage`), 1 otherwise. */
export function fail(error: unknown, usage?: string): never {
  const message = error instanceof Error ? error.message : String(error);
  // By shape, not instanceof: this module loads on every command, the lean hook too, so it
  // must not load the client (and zod) itself.
  const code = (error as Partial<BrokerError> | null)?.code;
  const advice = typeof code === "string" ? ADVICE[code as BrokerError["code"]] : undefined;
  // A message may quote a file or a reply it could not read: shown, never acted on.
  printError(terminalSafeLines(
    `claude-peers: ${message}${advice && !message.includes(advice) ? ` (${advice})` : ""}`,
  ));
  if (error instanceof UsageError) {
    if (usage) printError(`\n${usage}`);
    Deno.exit(2);
  }
  Deno.exit(1);
}
