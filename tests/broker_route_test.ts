/**
 * Our own clients (BrokerClient, HookClient) reach the broker by its inner server's Unix socket
 * when it answers, and by TCP when it does not (a stale socket file); the broker's proof comes
 * first on either route, and credentials go only by the route the proof came by. The broker
 * here is the real request handler (createBrokerCore on a `:memory:` KV, with the test's secret
 * and port, so its Host and secret checks run) served by `Deno.serve` on one route at a time
 * (both, for a broker that is starting: its port answers before its socket does). Clients
 * that keep their connections alive keep every one of these properties.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createTestEnv, type TestEnv } from "./_helpers.ts";
import { type Config, resolveConfig } from "../broker/config.ts";
import { loadOrCreateSecret } from "../broker/secret.ts";
import { createBrokerCore } from "../broker/core.ts";
import { BrokerClient, BrokerError } from "../broker/client.ts";
import { HookClient } from "../broker/hook_client.ts";
import { innerSocketPath } from "../broker/broker_route.ts";

const CLAUDE_SESSION = "5b1e0c0e-0000-4000-8000-000000000001";

/** The test's config, with its secret created. */
async function configOf(env: TestEnv): Promise<{ config: Config; secret: string }> {
  const config = resolveConfig({ get: (name) => env.env[name] });
  const secret = await loadOrCreateSecret(config.secretPath, config.stateDir);
  return { config, secret };
}

/** A request as a served broker saw it. */
interface Seen {
  path: string;
  credentialed: boolean;
}

/** A served broker: how many requests it answered, and which. */
interface ServedBroker extends AsyncDisposable {
  requests: () => number;
  seen: Seen[];
}

/**
 * The real broker handler, served on the Unix socket or on the TCP port, counting requests;
 * `before` runs ahead of each request's answer.
 */
async function serveBroker(
  config: Config,
  secret: string,
  on: "unix" | "tcp",
  before?: (request: Request) => Promise<void>,
): Promise<ServedBroker> {
  const kv = await Deno.openKv(":memory:");
  const core = await createBrokerCore(kv, {
    secret,
    port: config.port,
    dbPath: ":memory:",
    leaseMs: 30_000,
    retentionMs: 3_600_000,
  });
  let requests = 0;
  const seen: Seen[] = [];
  const handler = async (request: Request) => {
    requests++;
    seen.push({
      path: new URL(request.url).pathname,
      credentialed: request.headers.has("authorization"),
    });
    await before?.(request);
    return await core.handle(request);
  };
  const server = on === "unix"
    ? Deno.serve({ path: innerSocketPath(config.stateDir, config.port), onListen() {} }, handler)
    : Deno.serve({ hostname: "127.0.0.1", port: config.port, onListen() {} }, handler);
  return {
    requests: () => requests,
    seen,
    async [Symbol.asyncDispose]() {
      core.close();
      await server.shutdown();
      kv.close();
    },
  };
}

/** Something else on the TCP port: it answers like a broker without the proof, and logs. */
function serveSquatter(port: number): { seen: Headers[] } & AsyncDisposable {
  const seen: Headers[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, (request) => {
    seen.push(request.headers);
    return Response.json({ service: "claude-peers", version: "0.1.0", proof: "0".repeat(64) });
  });
  return { seen, [Symbol.asyncDispose]: () => server.shutdown() };
}

Deno.test({
  name: "a broker served only on its Unix socket answers BrokerClient and HookClient",
  ignore: Deno.build.os === "windows",
}, async () => {
  await using env = await createTestEnv();
  const { config, secret } = await configOf(env);
  await using broker = await serveBroker(config, secret, "unix");
  // Nothing listens on the TCP port: only the socket can answer.
  const client = new BrokerClient(config);
  const status = await client.status();
  assert.equal(status.port, config.port);
  const hook = new HookClient(config, CLAUDE_SESSION);
  // No peer holds this Claude session: the broker's own refusal, past its Host check.
  await assert.rejects(hook.wait(), /refused \/wait: HTTP 401/);
  assert.ok(hook.reached);
  // Each client proved the broker once, then made its call: two requests each.
  assert.equal(broker.requests(), 4);
});

Deno.test({
  name: "with a stale socket file (no broker behind it), calls go by TCP",
  ignore: Deno.build.os === "windows",
}, async () => {
  await using env = await createTestEnv();
  const { config, secret } = await configOf(env);
  // What a killed broker leaves: a path that refuses connections.
  await Deno.writeTextFile(innerSocketPath(config.stateDir, config.port), "");
  await using broker = await serveBroker(config, secret, "tcp");
  assert.equal((await new BrokerClient(config).status()).port, config.port);
  await assert.rejects(new HookClient(config, CLAUDE_SESSION).wait(), /refused \/wait: HTTP 401/);
  assert.equal(broker.requests(), 4);
});

for (const keepAlive of [false, true]) {
  Deno.test({
    name: `when the proven socket goes away, no credential goes by TCP before a new proof${
      keepAlive ? " (connections kept alive)" : ""
    }`,
    ignore: Deno.build.os === "windows",
  }, () => socketGoesAway(keepAlive));
}

async function socketGoesAway(keepAlive: boolean): Promise<void> {
  await using env = await createTestEnv();
  const { config, secret } = await configOf(env);
  using client = new BrokerClient(config, { keepAlive });
  const hook = new HookClient(config, CLAUDE_SESSION);
  {
    await using _broker = await serveBroker(config, secret, "unix");
    await client.status();
    await assert.rejects(hook.wait(), /refused \/wait: HTTP 401/);
  }
  await using squatter = serveSquatter(config.port);
  // The broker went: the next call fails on its route, and the one after that asks the new
  // holder of the port for the proof, which it cannot give.
  await assert.rejects(client.status(), (error) => {
    assert.ok(error instanceof BrokerError);
    assert.equal(error.code, "unavailable");
    return true;
  });
  await assert.rejects(client.status(), (error) => {
    assert.ok(error instanceof BrokerError);
    assert.equal(error.code, "impostor");
    return true;
  });
  await assert.rejects(hook.wait(), /No broker answers/);
  await assert.rejects(hook.wait(), /not this user's broker/);
  assert.ok(squatter.seen.length >= 2, "the squatter was asked for the proof");
  for (const headers of squatter.seen) {
    assert.equal(headers.get("authorization"), null, "a credential reached the squatter");
  }
}

Deno.test({
  name:
    "a kept-alive client proves its broker once for many calls, and calls again once it restarts",
  ignore: Deno.build.os === "windows",
}, async () => {
  await using env = await createTestEnv();
  const { config, secret } = await configOf(env);
  using client = new BrokerClient(config, { keepAlive: true });
  {
    await using broker = await serveBroker(config, secret, "unix");
    for (let i = 0; i < 5; i++) await client.status();
    // One proof, then the calls.
    assert.deepEqual(broker.seen.map((seen) => seen.path), [
      "/health",
      ...Array(5).fill("/status"),
    ]);
  }
  await using restarted = await serveBroker(config, secret, "unix");
  // The kept connection went with the old broker: a call may fail on it, and the next one
  // proves the new broker first.
  await client.status().catch((error) => {
    assert.ok(error instanceof BrokerError && error.code === "unavailable", String(error));
  });
  assert.equal((await client.status()).port, config.port);
  assert.ok(restarted.requests() >= 1);
  // close() ends the kept connection: the test's resource check finds nothing left open.
  client.close();
});

Deno.test({
  name:
    "a client proven by TCP while the broker's socket was not up yet sends its credentials by the socket",
  ignore: Deno.build.os === "windows",
}, async () => {
  await using env = await createTestEnv();
  const { config, secret } = await configOf(env);
  // What a starting broker does: its port answers (the gate holds the request) and its inner
  // server, on the socket, starts listening before the answer goes out.
  let socket: ServedBroker | undefined;
  await using tcp = await serveBroker(config, secret, "tcp", async () => {
    socket ??= await serveBroker(config, secret, "unix");
  });
  try {
    using client = new BrokerClient(config, { keepAlive: true });
    await client.status();
    await client.status();
    assert.ok(socket, "the socket came up");
    assert.deepEqual(tcp.seen, [{ path: "/health", credentialed: false }]);
    assert.deepEqual(socket.seen, [
      { path: "/health", credentialed: false },
      { path: "/status", credentialed: true },
      { path: "/status", credentialed: true },
    ]);
  } finally {
    await socket?.[Symbol.asyncDispose]();
  }
});
