/**
 * The MCP server in process: createPeerServer() linked to an SDK Client over
 * InMemoryTransport, against a real broker served in this process on an OS-chosen port with
 * an in-memory KV. Nothing here spawns a process; every wait is bounded and everything opened
 * is closed, so Deno's sanitizers stay on.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { type Config, resolveConfig } from "../broker/config.ts";
import { type BrokerCore, createBrokerCore } from "../broker/core.ts";
import { loadOrCreateSecret } from "../broker/secret.ts";
import { createPeerServer, type PeerServer } from "../mcp/server.ts";
import { waitFor } from "./_helpers.ts";

/** A broker serving in this process and the config that reaches it. */
interface InProcessBroker extends AsyncDisposable {
  config: Config;
}

/** Serves the broker's routes on a free loopback port over `:memory:` KV, in a temp home. */
async function startInProcessBroker(): Promise<InProcessBroker> {
  const dir = await Deno.makeTempDir({ prefix: "claude-peers-mcp-server-test-" });
  const kv = await Deno.openKv(":memory:");
  const ready = Promise.withResolvers<BrokerCore>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => (await ready.promise).handle(request),
  );
  const env: Record<string, string> = {
    HOME: dir,
    CLAUDE_PEERS_DB: join(dir, "peers.db"),
    CLAUDE_PEERS_PORT: String(server.addr.port),
  };
  const config = resolveConfig({ get: (name) => env[name] });
  const core = await createBrokerCore(kv, {
    secret: await loadOrCreateSecret(config.secretPath, config.stateDir),
    port: config.port,
    dbPath: config.dbPath,
    leaseMs: config.leaseMs,
    retentionMs: config.retentionMs,
  });
  ready.resolve(core);
  return {
    config,
    async [Symbol.asyncDispose]() {
      core.close();
      await server.shutdown();
      kv.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A channel notification as the client received it. */
interface ReceivedChannel {
  content: string;
  meta: Record<string, string>;
}

/** One in-process peer: its server and the SDK client driving it. */
interface InProcessPeer extends AsyncDisposable {
  peer: PeerServer;
  client: Client;
  /** Channel notifications received so far. */
  channel: ReceivedChannel[];
  /** Calls a tool and returns its text parts. */
  call: (name: string, args?: Record<string, unknown>) => Promise<string[]>;
  /** The peer id, from whoami (call it before messages arrive: whoami shows held ones). */
  id: () => Promise<string>;
}

/** Builds a peer server with the factory and links a client to it in memory. */
async function connectPeer(config: Config, channel: boolean): Promise<InProcessPeer> {
  const peer = createPeerServer({
    config,
    channel,
    readyTimeoutMs: 5_000,
    session: {
      pid: Deno.pid,
      ppid: Deno.ppid,
      cwd: config.stateDir,
      gitRoot: null,
      repo: null,
      branch: null,
      tty: null,
    },
  });
  const client = new Client({ name: "mcp-server-test", version: "0" });
  const received: ReceivedChannel[] = [];
  client.fallbackNotificationHandler = (notification: { method: string; params?: unknown }) => {
    if (notification.method === "notifications/claude/channel") {
      received.push(notification.params as unknown as ReceivedChannel);
    }
    return Promise.resolve();
  };
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await peer.server.connect(serverTransport);
  await client.connect(clientTransport);
  peer.start();
  const call = async (name: string, args: Record<string, unknown> = {}) => {
    const result = await client.callTool({ name, arguments: args }, undefined, { timeout: 10_000 });
    assert.notEqual(result.isError, true, `${name} failed: ${JSON.stringify(result.content)}`);
    return (result.content as { type: string; text?: string }[]).map((part) => part.text ?? "");
  };
  let peerId: string | undefined;
  return {
    peer,
    client,
    channel: received,
    call,
    async id() {
      const [text = ""] = await call("whoami");
      return peerId ??= text.match(/^id: ([a-z0-9]{8})$/m)?.[1] ?? assert.fail(text);
    },
    async [Symbol.asyncDispose]() {
      await peer.close();
      await client.close();
    },
  };
}

Deno.test("the tools are listed with titles, and the ones that only read are marked so", async () => {
  await using broker = await startInProcessBroker();
  await using alice = await connectPeer(broker.config, false);
  const { tools }: { tools: Tool[] } = await alice.client.listTools(undefined, {
    timeout: 10_000,
  });
  const byName = new Map(tools.map((tool) => [tool.name, tool]));
  assert.deepEqual(
    [...byName.keys()].sort(),
    ["check_messages", "list_peers", "send_message", "set_summary", "whoami"],
  );
  for (const tool of tools) {
    assert.ok(tool.title, `${tool.name} has a title`);
    assert.equal(tool.annotations?.openWorldHint, false, `${tool.name} stays on this machine`);
  }
  for (const name of ["list_peers", "whoami", "check_messages"]) {
    assert.equal(byName.get(name)?.annotations?.readOnlyHint, true, `${name} is read-only`);
  }
  for (const name of ["send_message", "set_summary"]) {
    assert.equal(byName.get(name)?.annotations?.readOnlyHint, false, `${name} writes`);
    assert.equal(byName.get(name)?.annotations?.destructiveHint, false, `${name} destroys nothing`);
  }
});

Deno.test("with channels on, a message from another peer arrives as a channel notification", async () => {
  await using broker = await startInProcessBroker();
  await using alice = await connectPeer(broker.config, true);
  await using bob = await connectPeer(broker.config, true);
  const [aliceId, bobId] = [await alice.id(), await bob.id()];
  await alice.call("send_message", { to_id: bobId, message: "hello <channel>bob</channel>" });
  await waitFor(() => bob.channel.length > 0, 5_000, "the channel notification");
  const [notification] = bob.channel;
  assert.equal(notification?.content, "hello &lt;channel&gt;bob&lt;/channel&gt;");
  assert.equal(notification?.meta.from_id, aliceId);
  assert.equal(notification?.meta.from_kind, "peer");
  assert.deepEqual(await bob.call("check_messages"), ["No new messages."]);
  // The push was acknowledged: alice sees her message delivered, and how.
  await waitFor(
    async () => /delivered \S+ via channel$/m.test((await alice.call("check_messages")).join("\n")),
    5_000,
    "the acknowledgement",
  );
  assert.doesNotMatch((await alice.call("check_messages")).join("\n"), /not yet delivered/);
  assert.equal(bob.channel.length, 1);
});

Deno.test("with channels off, a message rides on the next tool result once and is not shown again", async () => {
  await using broker = await startInProcessBroker();
  await using alice = await connectPeer(broker.config, true);
  await using bob = await connectPeer(broker.config, false);
  const [aliceId, bobId] = [await alice.id(), await bob.id()];
  await alice.call("send_message", { to_id: bobId, message: "ping from alice" });
  const results: string[][] = [];
  await waitFor(
    async () => {
      results.push(await bob.call("whoami"));
      return results.at(-1)!.length > 1;
    },
    5_000,
    "a tool result carrying the message",
  );
  const carried = results.flat().filter((text) => text.includes("ping from alice"));
  assert.equal(carried.length, 1, "the message rides on exactly one tool result");
  assert.match(carried[0]!, /^claude-peers: 1 new message from other Claude Code sessions/);
  assert.ok(carried[0]!.includes(`<peer_message id="`));
  assert.match(carried[0]!, new RegExp(` from="${aliceId}" from_name="[^"]+" from_kind="peer"`));
  assert.equal((await bob.call("whoami")).length, 1, "the next result carries nothing more");
  assert.deepEqual(await bob.call("check_messages"), ["No new messages."]);
  assert.deepEqual(bob.channel, []);
  await waitFor(
    async () =>
      /delivered \S+ via tool_result$/m.test((await alice.call("check_messages")).join("\n")),
    5_000,
    "the acknowledgement",
  );
});
