/**
 * Test helpers: temp homes, free ports, a real broker process, real `claude-peers mcp`
 * servers driven by the MCP SDK Client over stdio, the real CLI, and bounded waits.
 * With CLAUDE_PEERS_BIN set, every process is that compiled binary instead of `deno run`.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { join } from "node:path";
import { selfInvocation } from "../broker/spawn.ts";
import { resolveConfig } from "../broker/config.ts";
import { BrokerClient } from "../broker/client.ts";

/** Environment of one test: its own home, database and port. */
export interface TestEnv {
  dir: string;
  port: number;
  dbPath: string;
  env: Record<string, string>;
  /** A client for the test's broker, authenticated with the test's secret. */
  client: () => BrokerClient;
  /** Stops any broker on the test's port and removes the temp dir. */
  cleanup: () => Promise<void>;
}

/** A port nothing listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The command that runs claude-peers: CLAUDE_PEERS_BIN if set, else `deno run main.ts`. */
export function claudePeersCommand(args: string[]): { command: string; args: string[] } {
  const bin = Deno.env.get("CLAUDE_PEERS_BIN");
  return bin ? { command: bin, args } : selfInvocation(args);
}

let denoDir: Promise<string> | undefined;

/** Deno's cache directory, so `deno run` under a temp HOME still finds the npm packages. */
function findDenoDir(): Promise<string> {
  denoDir ??= (async () => {
    const fromEnv = Deno.env.get("DENO_DIR");
    if (fromEnv) return fromEnv;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json"],
      stdout: "piped",
    })
      .output();
    return JSON.parse(new TextDecoder().decode(output.stdout)).denoDir as string;
  })();
  return denoDir;
}

/** Variables Windows programs need even with a cleared environment. */
function windowsEssentials(home: string): Record<string, string> {
  if (Deno.build.os !== "windows") return {};
  const keep: Record<string, string> = { USERPROFILE: home };
  for (
    const name of ["SystemRoot", "SYSTEMROOT", "TEMP", "TMP", "LOCALAPPDATA", "PATHEXT", "ComSpec"]
  ) {
    const value = Deno.env.get(name);
    if (value) keep[name] = value;
  }
  return keep;
}

/** A fresh temp home, database path and port. */
export async function createTestEnv(extra: Record<string, string> = {}): Promise<TestEnv> {
  const dir = await Deno.makeTempDir({ prefix: "claude-peers-test-" });
  const port = freePort();
  const dbPath = join(dir, "peers.db");
  const env: Record<string, string> = {
    HOME: dir,
    CLAUDE_PEERS_PORT: String(port),
    CLAUDE_PEERS_DB: dbPath,
    CLAUDE_PEERS_CHANNEL: "on",
    PATH: Deno.env.get("PATH") ?? "",
    DENO_DIR: await findDenoDir(),
    DENO_NO_UPDATE_CHECK: "1",
    ...windowsEssentials(dir),
    ...extra,
  };
  const config = resolveConfig({ get: (name) => env[name] });
  const client = () => new BrokerClient(config);
  return {
    dir,
    port,
    dbPath,
    env,
    client,
    async cleanup() {
      await stopBrokerAt(client());
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Asks whatever broker answers for `client` to stop, until none has answered for a moment:
 * a broker auto-started late in a test may come up after the first one stopped.
 */
export async function stopBrokerAt(client: BrokerClient): Promise<void> {
  const answers = async () => {
    try {
      await client.health();
      return true;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 15_000;
  let quietSince = Date.now();
  while (Date.now() - quietSince < 1_000) {
    if (Date.now() > deadline) throw new Error("a broker kept answering after being stopped");
    if (await answers()) {
      await client.shutdown().catch(() => {});
      quietSince = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A broker process started by a test. */
export interface BrokerProcess {
  process: Deno.ChildProcess;
  /** Sends `signal` and waits for the exit. */
  kill: (signal?: Deno.Signal) => Promise<Deno.CommandStatus>;
  /** Everything the broker wrote to stderr so far. */
  stderr: () => string;
}

/** Starts `claude-peers broker` in the foreground for `testEnv` and waits until it answers. */
export async function startBroker(testEnv: TestEnv): Promise<BrokerProcess> {
  const { command, args } = claudePeersCommand(["broker"]);
  const process = new Deno.Command(command, {
    args,
    env: testEnv.env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const reading = process.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (stderr += chunk) }),
  );
  const status = process.status;
  let exited = false;
  status.then(() => exited = true);
  await waitFor(
    async () => {
      if (exited) throw new Error(`broker exited early: ${stderr}`);
      try {
        await testEnv.client().health();
        return true;
      } catch {
        return false;
      }
    },
    15_000,
    "broker to answer",
  );
  return {
    process,
    async kill(signal: Deno.Signal = "SIGTERM") {
      if (!exited) process.kill(signal);
      const result = await status;
      await reading;
      return result;
    },
    stderr: () => stderr,
  };
}

/** A channel notification as the MCP client received it. */
export interface ReceivedChannel {
  content: string;
  meta: Record<string, unknown>;
}

/** A real `claude-peers mcp` process and the SDK client that drives it. */
export interface McpPeer {
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
  pid: () => number;
  stderr: () => string;
  close: () => Promise<void>;
}

/** Options for {@link spawnMcp}. */
export interface SpawnMcpOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Start the server through this command instead of directly. */
  launch?: { command: string; args: string[] };
}

/** Spawns `claude-peers mcp` and connects an MCP client to it over stdio. */
export async function spawnMcp(testEnv: TestEnv, options: SpawnMcpOptions = {}): Promise<McpPeer> {
  const { command, args } = options.launch ?? claudePeersCommand(["mcp"]);
  const transport = new StdioClientTransport({
    command,
    args,
    env: { ...testEnv.env, ...options.env },
    cwd: options.cwd ?? testEnv.dir,
    stderr: "pipe",
  });
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
  await client.connect(transport);
  const call = async (name: string, toolArgs: Record<string, unknown> = {}) => {
    const result = await client.callTool({ name, arguments: toolArgs }, undefined, {
      timeout: 30_000,
    });
    const content = result.content as { type: string; text?: string }[];
    return {
      text: content.map((part) => part.text ?? "").join("\n"),
      isError: result.isError === true,
    };
  };
  let peerId: string | undefined;
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
    pid: () => transport.pid ?? 0,
    stderr: () => stderr,
    async close() {
      await client.close().catch(() => {});
    },
  };
  return peer;
}

/** Result of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI with `args` in `testEnv`, optionally feeding `stdin`, in `cwd`. */
export async function runCli(
  testEnv: TestEnv,
  args: string[],
  stdin?: string,
  cwd?: string,
): Promise<CliResult> {
  const { command, args: fullArgs } = claudePeersCommand(args);
  const child = new Deno.Command(command, {
    args: fullArgs,
    cwd: cwd ?? testEnv.dir,
    env: testEnv.env,
    clearEnv: true,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Polls `predicate` until it is true; fails with `what` after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Whether the tests run on Windows, where POSIX signals and file modes do not exist. */
export const ON_WINDOWS = Deno.build.os === "windows";

/** A test name that states why it is skipped on Windows, when it is. */
export function posixTestName(name: string, reason = "needs POSIX signals"): string {
  return ON_WINDOWS ? `${name} [ignored on Windows: ${reason}]` : name;
}
