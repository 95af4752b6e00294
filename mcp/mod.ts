/**
 * runMcp(): the stdio MCP server Claude Code spawns. It answers the handshake at once,
 * registers with the broker in the background, and exits (dropping out of the listings)
 * when stdin closes or its parent process is gone.
 *
 * @module
 */
import process from "node:process";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { Config } from "../broker/config.ts";
import { errorMessage, log, setLogPrefix } from "../broker/log.ts";
import { detectChannelMode, readSessionContext } from "./context.ts";
import { PeerConnection } from "./connection.ts";
import { Delivery } from "./delivery.ts";
import { SendQueue } from "./send_queue.ts";
import { createServer, type PeerServer } from "./server.ts";
import { generateSummary } from "./summary.ts";
import type { ToolContext } from "./tools/context.ts";

/** Stdin closing is the usual sign the parent is gone; this slow check catches the rest. */
const PARENT_CHECK_MS = 10_000;

/** Serves MCP on stdio until stdin closes or the parent exits. */
export async function runMcp(config: Config): Promise<void> {
  setLogPrefix("claude-peers mcp");
  const [session, channel] = await Promise.all([
    readSessionContext(),
    detectChannelMode(config.channel, Deno.ppid),
  ]);
  const initialized = Promise.withResolvers<void>();
  const delivery: Delivery = new Delivery({
    channel,
    clientReady: initialized.promise,
    notify: (notification) => peerServer.notifyChannel(notification),
    ack: async (ids) => {
      await connection.call((client) => client.ack(ids));
    },
  });
  const connection = new PeerConnection(config, session, {
    onMessage: (message) => delivery.receive(message),
    onConnected: () => delivery.retryAcks(),
  });
  const ctx: ToolContext = {
    connection,
    delivery,
    session,
    sends: new SendQueue(connection),
    summarySetByModel: false,
  };
  const peerServer: PeerServer = createServer(ctx);
  peerServer.server.server.oninitialized = () => initialized.resolve();

  const { promise: done, resolve: finish } = Promise.withResolvers<string>();
  process.stdin.on("end", () => finish("stdin closed"));
  process.stdin.on("close", () => finish("stdin closed"));
  const parentCheck = setInterval(() => {
    if (Deno.ppid !== session.ppid) finish("the parent process exited");
  }, PARENT_CHECK_MS);
  Deno.unrefTimer(parentCheck);

  const transport = new StdioServerTransport();
  transport.onclose = () => finish("transport closed");
  await peerServer.server.connect(transport);
  connection.start();
  log(`started (pid ${session.pid}, channel ${channel ? "on" : "off"}, cwd ${session.cwd})`);
  if (config.openaiApiKey) autoSummarize(config, ctx);

  const reason = await done;
  log(`exiting: ${reason}`);
  clearInterval(parentCheck);
  await connection.close();
  await peerServer.close().catch(() => {});
}

function autoSummarize(config: Config, ctx: ToolContext): void {
  generateSummary(config, ctx.session).then(async (summary) => {
    if (ctx.summarySetByModel) return;
    await ctx.connection.setSummary(summary);
    log(`auto-summary set: ${summary}`);
  }).catch((error) => log(`auto-summary failed: ${errorMessage(error)}`));
}
