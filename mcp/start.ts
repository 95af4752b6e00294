/**
 * startSession(): what `claude-peers mcp` does before the MCP SDK loads. It reads the
 * session's facts (git's from the repository's files, the rest through one `ps`), proves the
 * broker meanwhile and registers, so the session is visible to its peers by the time Claude
 * Code has the tool list: evaluating the SDK blocks the event loop, and a registration begun
 * just before it would not be read until after (start-up, issue 11). It never loads the SDK.
 *
 * @module
 */
import type { Config } from "../broker/config.ts";
import type { PeerConnection } from "./connection.ts";
import { readStartFacts, type SessionContext } from "./context.ts";

/** A session whose registration has begun. */
export interface StartedSession {
  session: SessionContext;
  /** Whether Claude Code shows channel notifications. */
  channel: boolean;
  /** Registering in the background; its push stream opens once given a listener. */
  connection: PeerConnection;
}

/**
 * How long loading the SDK may wait for the facts and the registration: evaluating the SDK
 * blocks the event loop for ~20-30 ms, in which no reply from the broker would be read.
 */
const REGISTRATION_HEAD_START_MS = 40;

/**
 * Reads the session's facts and registers with the broker: resolves once registered (or once
 * that must wait for a broker to start, or after {@link REGISTRATION_HEAD_START_MS}), while
 * registration goes on in the background.
 */
export async function startSession(config: Config): Promise<StartedSession> {
  const facts = readStartFacts(config);
  // Loaded while the facts are read: the broker client and the protocol's schemas take ~10 ms.
  const { PeerConnection } = await import("./connection.ts");
  // The broker is found and proven while the facts are still read.
  const connection = new PeerConnection(config, facts.then(([session]) => session), {
    channel: facts.then(([, channel]) => channel),
  });
  connection.start();
  const [[session, channel]] = await Promise.all([
    facts,
    connection.firstAttempt(REGISTRATION_HEAD_START_MS),
  ]);
  return { session, channel, connection };
}
