/**
 * runMcp(): the stdio MCP server Claude Code spawns. It answers the handshake at once, takes
 * over the registration startSession() began, and exits (dropping out of the listings)
 * when stdin closes or its parent process is gone. Everything else is built by
 * createPeerServer(); stdout is the protocol, so nothing here writes to it.
 *
 * @module
 */
import type { Config } from "../broker/config.ts";
import { log, setLogPrefix } from "../broker/log.ts";
import type { SessionContext } from "./context.ts";
import { type StartedSession, startSession } from "./start.ts";
import { createPeerServer } from "./server.ts";
import { StdioTransport } from "./stdio.ts";

/** Stdin closing is the usual sign the parent is gone; this slow check catches the rest. */
const PARENT_CHECK_MS = 10_000;

/**
 * Serves MCP on stdio until stdin closes or the parent exits. `started` is the session, when
 * the caller began registering it already ({@link startSession}, before the SDK loaded).
 */
export async function runMcp(
  config: Config,
  started?: StartedSession,
): Promise<void> {
  setLogPrefix("claude-peers mcp");
  const { session, channel, connection } = started ?? await startSession(config);
  const peer = createPeerServer({ config, session, channel, connection });
  const exit = watchForExit(session);
  try {
    const transport = new StdioTransport();
    // It closes when stdin ends, the usual sign that the parent is gone.
    transport.onclose = () => exit.finish("stdin closed");
    await peer.server.connect(transport);
    peer.start();
    log(`started (pid ${session.pid}, channel ${channel ? "on" : "off"}, cwd ${session.cwd})`);
    log(`exiting: ${await exit.reason}`);
  } finally {
    exit.stop();
    await peer.close();
  }
}

/** Why the server should exit, once it should. */
interface ExitWatch {
  reason: Promise<string>;
  finish: (reason: string) => void;
  stop: () => void;
}

/** Watches the parent process changing; the transport reports stdin ending. */
function watchForExit(session: SessionContext): ExitWatch {
  const { promise: reason, resolve: finish } = Promise.withResolvers<string>();
  const parentCheck = setInterval(() => {
    if (Deno.ppid !== session.ppid) finish("the parent process exited");
  }, PARENT_CHECK_MS);
  Deno.unrefTimer(parentCheck);
  return { reason, finish, stop: () => clearInterval(parentCheck) };
}
