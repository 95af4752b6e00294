/**
 * A real `claude-peers mcp` process driven by the MCP SDK client over stdio:
 * `await using peer = await spawnMcp(env)`. Disposal closes the client and awaits the
 * process's exit, so no server outlives its test.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { TestEnv } from "./env.ts";

/** A channel notification as the MCP client received it. */
export interface ReceivedChannel {
  content: string;
  meta: Record<string, unknown>;
}

/** A real `claude-peers mcp` process and the SDK client that drives it. */
export interface McpPeer extends AsyncDisposable {
  client: Client;
  transport: StdioClientTransport;
  channel: ReceivedChannel[];
  /** Called for each channel notification as it arrives (the benchmark times with it). */
  onChannel: ((notification: ReceivedChannel) => void) | undefined;
  /** The server's peer id (from whoami). */
  id: () => Promise<string>;
  /** Calls a tool; returns its text and whether it was an error. */
  call: (
    name: string,
    args?: Record<string, unknown>,
  ) => Promise<{ text: string; isError: boolean }>;
  /** The pid of the process the transport started (still known after it exited). */
  pid: () => number;
  stderr: () => string;
  /** Closes the client and waits until the process has exited; safe to call twice. */
  close: () => Promise<void>;
}

/** Options for {@link spawnMcp}. */
export interface SpawnMcpOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Start the server through this command instead of directly. */
  launch?: { command: string; args: string[] };
  /** How long a tool call may take. @default 30000 */
  callTimeoutMs?: number;
}

/** The SDK's close escalates to SIGKILL after 4 s; the exit itself follows at once. */
const EXIT_TIMEOUT_MS = 10_000;

/** Spawns `claude-peers mcp` and connects an MCP client to it over stdio. */
export async function spawnMcp(testEnv: TestEnv, options: SpawnMcpOptions = {}): Promise<McpPeer> {
  const { command, args } = options.launch ?? testEnv.command(["mcp"]);
  const transport = new StdioClientTransport({
    command,
    args,
    env: { ...testEnv.env, ...options.env },
    cwd: options.cwd ?? testEnv.dir,
    stderr: "pipe",
  });
  // The transport calls onclose when the process has exited and its pipes are closed; the
  // client chains its own handler after this one.
  const { promise: exited, resolve: markExited } = Promise.withResolvers<void>();
  transport.onclose = () => markExited();
  let stderr = "";
  transport.stderr?.on("data", (chunk: Uint8Array) => stderr += new TextDecoder().decode(chunk));
  const client = new Client({ name: "claude-peers-test", version: "0" });
  const channel: ReceivedChannel[] = [];
  client.fallbackNotificationHandler = (notification: { method: string; params?: unknown }) => {
    if (notification.method === "notifications/claude/channel") {
      const received = notification.params as unknown as ReceivedChannel;
      channel.push(received);
      peer.onChannel?.(received);
    }
    return Promise.resolve();
  };
  try {
    await client.connect(transport);
  } catch (error) {
    await transport.close().catch(() => {});
    throw error;
  }
  const pid = transport.pid ?? 0;
  const call = async (name: string, toolArgs: Record<string, unknown> = {}) => {
    const result = await client.callTool({ name, arguments: toolArgs }, undefined, {
      timeout: options.callTimeoutMs ?? 30_000,
    });
    const content = result.content as { type: string; text?: string }[];
    return {
      text: content.map((part) => part.text ?? "").join("\n"),
      isError: result.isError === true,
    };
  };
  let peerId: string | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await client.close().catch(() => {});
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), EXIT_TIMEOUT_MS);
      });
      const outcome = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (outcome === "timeout") {
        throw new Error(`The MCP server (pid ${pid}) did not exit within ${EXIT_TIMEOUT_MS} ms`);
      }
    })();
  const peer: McpPeer = {
    client,
    transport,
    channel,
    onChannel: undefined,
    call,
    async id() {
      if (peerId) return peerId;
      const { text } = await call("whoami");
      const match = text.match(/^id: ([a-z0-9]{8})$/m);
      if (!match) throw new Error(`whoami gave no id: ${text}`);
      return peerId = match[1]!;
    },
    pid: () => pid,
    stderr: () => stderr,
    close,
    [Symbol.asyncDispose]: close,
  };
  return peer;
}

/** Several MCP peers, all closed on disposal: `await using peers = await spawnAll(env, 10)`. */
export type McpPeers = McpPeer[] & AsyncDisposable;

/** Options for {@link spawnAll}. */
export interface SpawnAllOptions extends SpawnMcpOptions {
  /** How many servers start at once. @default all of them */
  batch?: number;
}

/** Spawns `count` MCP servers, `batch` at a time; if one fails, closes the others and throws. */
export async function spawnAll(
  testEnv: TestEnv,
  count: number,
  options: SpawnAllOptions = {},
): Promise<McpPeers> {
  const { batch = count, ...spawnOptions } = options;
  const peers: McpPeer[] = [];
  try {
    while (peers.length < count) {
      const size = Math.min(batch, count - peers.length);
      const started = await Promise.allSettled(
        Array.from({ length: size }, () => spawnMcp(testEnv, spawnOptions)),
      );
      for (const result of started) if (result.status === "fulfilled") peers.push(result.value);
      const failure = started.find((result) => result.status === "rejected");
      if (failure) throw failure.reason;
    }
  } catch (error) {
    await closeAll(peers).catch(() => {});
    throw error;
  }
  return Object.assign(peers, { [Symbol.asyncDispose]: () => closeAll(peers) });
}

/** Closes every peer, all at once; fails if one of them did not exit. */
export async function closeAll(peers: McpPeer[]): Promise<void> {
  const results = await Promise.allSettled(peers.map((peer) => peer.close()));
  const failure = results.find((result) => result.status === "rejected");
  if (failure) throw failure.reason;
}
