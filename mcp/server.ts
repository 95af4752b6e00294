/**
 * createPeerServer(): one MCP server, whole: its broker connection, the delivery of incoming
 * messages, the send queue and the tools, with the claude/channel capability. It is kept apart
 * from any transport, so `claude-peers mcp` links it to stdio and tests link it in memory. It
 * never reads the environment or the process: the caller passes the config and session facts.
 *
 * @module
 */
import { McpServer } from "../broker/_vendor/mcp_sdk.js";
import type { jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/types.js";
import { type Config, VERSION } from "../broker/config.ts";
import type { SessionContext } from "./context.ts";
import { PeerConnection, type PeerConnectionOptions } from "./connection.ts";
import { Delivery } from "./delivery.ts";
import { INSTRUCTIONS } from "./instructions.ts";
import type { ChannelNotification } from "./present.ts";
import { SendQueue } from "./send_queue.ts";
import { startAutoSummary } from "./summary.ts";
import type { ToolContext } from "./tools/context.ts";
import { registerTools } from "./tools/mod.ts";

/** What one peer server is built from. */
export interface PeerServerDeps {
  /** Where the broker is and how to reach it. */
  config: Config;
  /** The session this server serves (`readStartFacts()` in `claude-peers mcp`). */
  session: SessionContext;
  /** Whether Claude Code shows channel notifications (`readStartFacts()`). */
  channel: boolean;
  /** How long a tool waits for registration with the broker. @default 8000 */
  readyTimeoutMs?: number;
  /**
   * The connection for `session`, when registration began already (`startSession()`); its
   * push stream opens at {@link PeerServer.start}. @default a new one, started by `start()`
   */
  connection?: PeerConnection;
}

/** A built peer server: link `server` to a transport, then {@link PeerServer.start}. */
export interface PeerServer extends AsyncDisposable {
  /** The MCP server; connect it to a transport. */
  server: McpServer;
  /** Registration and push stream with the broker. */
  connection: PeerConnection;
  /** How incoming messages are shown to the model. */
  delivery: Delivery;
  /** Registers with the broker in the background and starts the auto-summary if configured. */
  start(): void;
  /** Leaves the broker (the peer drops out of listings) and closes the MCP server. */
  close(): Promise<void>;
}

/** Builds connection, delivery, send queue and tools; nothing runs until `start()`. */
export function createPeerServer(deps: PeerServerDeps): PeerServer {
  const { config, session, channel } = deps;
  const server = new McpServer(
    { name: "claude-peers", version: VERSION },
    {
      capabilities: { tools: {}, experimental: { "claude/channel": {} } },
      instructions: INSTRUCTIONS,
      jsonSchemaValidator: NO_JSON_SCHEMA,
    },
  );
  // A notification written before the client's `initialized` may be dropped: delivery waits.
  const initialized = Promise.withResolvers<void>();
  server.server.oninitialized = () => initialized.resolve();
  const connectionOptions: PeerConnectionOptions = deps.readyTimeoutMs === undefined
    ? { channel }
    : { channel, readyTimeoutMs: deps.readyTimeoutMs };
  const connection = deps.connection ?? new PeerConnection(config, session, connectionOptions);
  const delivery = new Delivery({
    channel,
    clientReady: initialized.promise,
    notify: (notification) => pushChannel(server, notification),
    claim: async (presenter) => {
      const { messages, more } = await connection.call((client) => client.claim({ presenter }));
      return { messages, more };
    },
    ack: async (ids, via) => {
      await connection.call((client) => client.ack(ids, via));
    },
  });
  const sends = new SendQueue(connection);
  const ctx: ToolContext = { connection, delivery, session, sends, summarySetByModel: false };
  registerTools(server, ctx);

  let started = false;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => closed ??= shutDown(connection, server, delivery, sends);
  return {
    server,
    connection,
    delivery,
    start() {
      if (started) return;
      started = true;
      connection.start({
        onMessage: (message) => delivery.receive(message),
      });
      if (config.openaiApiKey) startAutoSummary(config, ctx);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * The SDK checks JSON Schema only for the answer to an elicitation, which claude-peers never
 * asks for; without this it would build Ajv, which broker/_vendor/ leaves out (.ci/vendor.ts).
 */
const NO_JSON_SCHEMA: jsonSchemaValidator = {
  getValidator() {
    throw new Error("claude-peers validates no JSON Schema: it asks for no elicitation");
  },
};

/** How long closing waits for the model's last sends and the acknowledgements of what was shown. */
const SETTLE_MS = 2_000;

/**
 * Sends what the model asked to send before the end (Claude Code may exit right after its last
 * send_message) and the acknowledgements of what was shown (so the sender sees it delivered, and
 * it is not shown again), then closes the stream, so the broker drops the peer before the client
 * sees the end.
 */
async function shutDown(
  connection: PeerConnection,
  server: McpServer,
  delivery: Delivery,
  sends: SendQueue,
): Promise<void> {
  // A tool call read just before stdin closed may not have queued its send yet.
  await new Promise((resolve) => setTimeout(resolve, 0));
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all([sends.settled(), delivery.settled()]),
    new Promise<void>((resolve) => timer = setTimeout(resolve, SETTLE_MS)),
  ]);
  clearTimeout(timer);
  await connection.close();
  await server.close().catch(() => {});
}

/** Writes `notification` to the client as Claude Code's channel notification. */
function pushChannel(server: McpServer, notification: ChannelNotification): Promise<void> {
  return server.server.notification({
    method: "notifications/claude/channel",
    params: { content: notification.content, meta: notification.meta },
  });
}
