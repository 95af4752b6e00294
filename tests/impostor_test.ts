/**
 * Another OS user squatting the broker's port (made with `useradd`; root and Linux only, else
 * ignored with the reason): it answers like a claude-peers broker but cannot prove it holds the
 * victim's secret. The victim's CLI, MCP server and hooks refuse it before sending any
 * credential or message, and `doctor` names it with its owner. And a hook token or secret that
 * reached that user is useless to it: the real broker refuses credentials on its connections.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import {
  claudePeersCommand,
  createTestEnv,
  runCli,
  spawnHook,
  spawnMcp,
  startBroker,
  type TestEnv,
  waitFor,
} from "./_helpers.ts";
import { resolveConfig } from "../broker/config.ts";
import { hookToken, loadOrCreateSecret } from "../broker/secret.ts";
import { CLAUDE_SESSION_HEADER, SESSION_HEADER } from "../broker/wire.ts";

const SQUATTER = "cpsquat";

async function succeeds(command: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(command, { args, stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

async function skipReason(): Promise<string | null> {
  if (Deno.build.os !== "linux") return "needs Linux";
  if (Deno.uid() !== 0) return "needs root to add a second user";
  if (await succeeds("id", ["-u", SQUATTER])) return null;
  const added = await succeeds("useradd", ["-M", "-r", "-s", "/usr/sbin/nologin", SQUATTER]);
  return added ? null : "useradd is not available";
}

const skip = await skipReason();

/**
 * What the squatter runs: it binds the port as soon as it is free (at once, or the moment a
 * broker holding it dies), answers like a broker and logs every request it gets.
 */
const SQUAT_SCRIPT = `
const [port, log, ready] = Deno.args;
const handler = async (request) => {
  const body = await request.text();
  const line = JSON.stringify({ method: request.method, url: request.url,
    headers: Object.fromEntries(request.headers), body });
  await Deno.writeTextFile(log, line + "\\n", { append: true });
  const url = new URL(request.url);
  if (url.pathname === "/health") {
    return Response.json({ service: "claude-peers", version: "0.1.0", proof: "0".repeat(64) });
  }
  return Response.json({ peer_id: "aaaaaaaa", session: "s", resumed: false, peers: [] });
};
for (;;) {
  try {
    Deno.serve({ hostname: "127.0.0.1", port: Number(port), onListen() {} }, handler);
    break;
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
await Deno.writeTextFile(ready, "listening");
`;

/** The other user's program on the port: what it was sent, and how to end it. */
interface Squatter extends AsyncDisposable {
  /** Resolves once it listens on the port. */
  listening: () => Promise<void>;
  /** Every request it got, one JSON line each. */
  seen: () => Promise<string>;
  /** Kills it and waits for its exit. */
  stop: () => Promise<void>;
}

/** Starts the squatter as user {@link SQUATTER}; it takes `port` as soon as it is free. */
async function startSquatter(port: number): Promise<Squatter> {
  const place = await Deno.makeTempDir({ prefix: "claude-peers-squat-" });
  await Deno.chmod(place, 0o777);
  const script = join(place, "squat.ts");
  const log = join(place, "requests.log");
  const ready = join(place, "ready");
  await Deno.writeTextFile(script, SQUAT_SCRIPT);
  await Deno.writeTextFile(log, "");
  await Deno.chmod(script, 0o644);
  await Deno.chmod(log, 0o666);
  const process = new Deno.Command("runuser", {
    args: [
      "-u",
      SQUATTER,
      "--",
      "env",
      `HOME=${place}`,
      `DENO_DIR=${join(place, "deno")}`,
      "DENO_NO_UPDATE_CHECK=1",
      Deno.execPath(),
      "run",
      "--quiet",
      "--no-config",
      `--allow-net=127.0.0.1:${port}`,
      `--allow-write=${log},${ready}`,
      script,
      String(port),
      log,
      ready,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      await succeeds("pkill", ["-KILL", "-u", SQUATTER]);
      await process.status;
      await process.stderr.cancel().catch(() => {});
    })();
  return {
    listening: () =>
      waitFor(
        async () => (await Deno.stat(ready).catch(() => null)) !== null,
        15_000,
        "the squatter to listen",
      ),
    seen: () => Deno.readTextFile(log),
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
      await Deno.remove(place, { recursive: true });
    },
  };
}

/** Asserts that nothing the squatter got carries a credential, a message or a peer call. */
function assertNothingLeaked(seen: string, secrets: string[]): void {
  assert.ok(seen.includes("/health?challenge="), "the squatter was asked to prove itself");
  for (const secret of secrets) {
    assert.ok(
      !seen.includes(secret),
      `"${secret.slice(0, 12)}…" never reached the squatter: ${
        seen.split("\n").filter((l) => l.includes(secret)).map((l) => l.slice(0, 300)).join("\n")
      }`,
    );
  }
  assert.doesNotMatch(
    seen,
    new RegExp(`authorization|${SESSION_HEADER}|${CLAUDE_SESSION_HEADER}`, "i"),
  );
  assert.doesNotMatch(seen, /\/register|\/send|\/stream|\/claim|\/wait|\/ack|\/peers/);
  for (const line of seen.trim().split("\n")) {
    assert.equal(JSON.parse(line).body, "", `a request with a body reached the squatter: ${line}`);
  }
}

function ignoredName(name: string): string {
  return `${name}${skip ? ` [ignored: ${skip}]` : ""}`;
}

Deno.test({
  name: ignoredName("another user squatting the port gets no secret, credential or message"),
  ignore: skip !== null,
  async fn() {
    await using testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" });
    const config = resolveConfig({ get: (name) => testEnv.env[name] });
    const secret = await loadOrCreateSecret(config.secretPath, config.stateDir);
    await using squatter = await startSquatter(testEnv.port);
    await squatter.listening();

    const peers = await runCli(testEnv, ["peers"]);
    assert.equal(peers.code, 1, peers.stdout);
    assert.match(peers.stderr, /does not know your secret/);

    await using peer = await spawnMcp(testEnv);
    const listed = await peer.call("list_peers");
    assert.equal(listed.isError, true);
    assert.match(listed.text, /does not know your secret/);

    const { command, args } = claudePeersCommand(["hook", "context"]);
    const hook = await new Deno.Command(command, {
      args,
      env: { ...testEnv.env, CLAUDE_CODE_SESSION_ID: "victim-session" },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(hook.code, 0);
    assert.equal(new TextDecoder().decode(hook.stdout), "");

    const doctor = await runCli(testEnv, ["doctor"]);
    assert.equal(doctor.code, 1);
    assert.match(
      doctor.stdout,
      new RegExp(
        `port ${testEnv.port} is held by a program that cannot prove it is your broker, run by user ${SQUATTER}`,
      ),
    );
    assertNothingLeaked(await squatter.seen(), [secret]);
  },
});

/** A `hook wait` of the victim's session, as Claude Code runs it at Stop. */
function startWaitingHook(testEnv: TestEnv, session: string): Deno.ChildProcess {
  return spawnHook(testEnv, "wait", session);
}

Deno.test({
  name: ignoredName(
    "another user taking the port right after a broker SIGKILL gets nothing; the victim recovers by itself",
  ),
  ignore: skip !== null,
  async fn() {
    const session = "victim-session-after-crash";
    await using testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" });
    const config = resolveConfig({ get: (name) => testEnv.env[name] });
    const secret = await loadOrCreateSecret(config.secretPath, config.stateDir);
    await using broker = await startBroker(testEnv);
    await using victim = await spawnMcp(testEnv, { env: { CLAUDE_CODE_SESSION_ID: session } });
    await using other = await spawnMcp(testEnv);
    const victimId = await victim.id();
    const otherId = await other.id();
    // The victim's session idles with its waiting hook, and calls tools in a burst.
    await using hook = startWaitingHook(testEnv, session);
    await waitFor(
      async () =>
        (await testEnv.client().listPeers("machine")).peers.some((peer) =>
          peer.id === victimId && peer.delivery === "hooks"
        ),
      15_000,
      "the victim's waiting hook",
    );
    assert.equal((await victim.call("list_peers")).isError, false);
    // The squatter waits for the port; it takes it the moment the broker dies.
    await using squatter = await startSquatter(testEnv.port);
    await broker.kill("SIGKILL");
    await squatter.listening();

    const started = performance.now();
    const listed = await victim.call("list_peers");
    const elapsed = performance.now() - started;
    assert.equal(listed.isError, true, listed.text);
    assert.match(listed.text, /does not know your secret/);
    assert.ok(elapsed < 5_000, `the refusal took ${Math.round(elapsed)} ms`);
    const body = "a message body for the real broker only";
    const sent = await victim.call("send_message", { to_id: otherId, message: body });
    assert.equal(sent.isError, true, sent.text);
    assert.match(sent.text, /does not know your secret.*Nothing was sent/s);
    const cliSend = await runCli(testEnv, ["send", victimId, body]);
    assert.equal(cliSend.code, 1, cliSend.stdout);
    assert.match(cliSend.stderr, /does not know your secret.*claude-peers doctor/);
    const status = await runCli(testEnv, ["status"]);
    assert.equal(status.code, 1, status.stdout);
    assert.match(status.stderr, /does not know your secret/);
    const doctor = await runCli(testEnv, ["doctor"]);
    assert.equal(doctor.code, 1);
    assert.match(
      doctor.stdout,
      new RegExp(`cannot prove it is your broker, run by user ${SQUATTER}`),
    );
    // The victim's server and hook keep asking while the squatter holds the port.
    await waitFor(
      async () => (await squatter.seen()).split("/health?challenge=").length > 4,
      10_000,
      "the victim to ask the squatter again",
    );
    assertNothingLeaked(await squatter.seen(), [secret, body]);

    await squatter.stop();
    // Nothing more to do by hand: the victim's server starts a broker and comes back.
    await waitFor(
      async () => !(await victim.call("list_peers")).isError,
      20_000,
      "the victim to be served again",
    );
    assert.match((await victim.call("whoami")).text, new RegExp(`^id: ${victimId}$`, "m"));
    const after = "after the squatter left";
    const back = await runCli(testEnv, ["send", victimId, after]);
    assert.equal(back.code, 0, back.stderr);
    // The waiting hook found the real broker again too: it wakes the session with the message.
    const woke = await Promise.race([
      hook.output(),
      delay(20_000).then(() => Promise.reject(new Error("the waiting hook did not wake"))),
    ]);
    assert.equal(woke.code, 2, new TextDecoder().decode(woke.stderr));
    assert.match(new TextDecoder().decode(woke.stderr), new RegExp(after));
  },
});

/**
 * What a thief does with a stolen hook token and secret: a Claude Code HTTP hook for the
 * victim's session, then a hook claim and a listing with the secret, each on a new connection.
 * Prints one JSON line: each request's status (or the error) and body.
 */
const THIEF_SCRIPT = `
const [port, token, secret, session] = Deno.args;
const base = "http://127.0.0.1:" + port;
const attempt = async (path, init) => {
  try {
    const response = await fetch(base + path, init);
    return { status: response.status, body: await response.text() };
  } catch (error) {
    return { error: String(error) };
  }
};
const json = { "content-type": "application/json", connection: "close" };
const bearer = { ...json, authorization: "Bearer " + secret };
const results = {
  hook: await attempt("/hook/context?token=" + token, { method: "POST", headers: json,
    body: JSON.stringify({ session_id: session, hook_event_name: "UserPromptSubmit" }) }),
  claim: await attempt("/claim", { method: "POST",
    headers: { ...bearer, "x-claude-peers-claude-session": session },
    body: JSON.stringify({ presenter: "hook_context" }) }),
  peers: await attempt("/peers", { method: "POST", headers: bearer,
    body: JSON.stringify({ scope: "machine" }) }),
};
console.log(JSON.stringify(results));
`;

interface Attempt {
  status?: number;
  body?: string;
  error?: string;
}

/** Runs {@link THIEF_SCRIPT} as `user` (or as this process's user when null). */
async function steal(
  user: string | null,
  args: string[],
): Promise<{ hook: Attempt; claim: Attempt; peers: Attempt }> {
  const place = await Deno.makeTempDir({ prefix: "claude-peers-thief-" });
  try {
    await Deno.chmod(place, 0o777);
    const script = join(place, "thief.ts");
    await Deno.writeTextFile(script, THIEF_SCRIPT);
    await Deno.chmod(script, 0o644);
    const deno = [
      "env",
      `HOME=${place}`,
      `DENO_DIR=${join(place, "deno")}`,
      "DENO_NO_UPDATE_CHECK=1",
      Deno.execPath(),
      "run",
      "--quiet",
      "--no-config",
      `--allow-net=127.0.0.1:${args[0]}`,
      script,
      ...args,
    ];
    const [command, ...rest] = user === null ? deno : ["runuser", "-u", user, "--", ...deno];
    const output = await new Deno.Command(command!, {
      args: rest,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    return JSON.parse(stdout);
  } finally {
    await Deno.remove(place, { recursive: true });
  }
}

Deno.test({
  name: ignoredName(
    "another user with a stolen hook token and secret is refused by the real broker and claims nothing; the same user is served",
  ),
  ignore: skip !== null,
  async fn() {
    const session = "victim-session-robbed";
    await using testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" });
    const config = resolveConfig({ get: (name) => testEnv.env[name] });
    const secret = await loadOrCreateSecret(config.secretPath, config.stateDir);
    await using broker = await startBroker(testEnv);
    await using victim = await spawnMcp(testEnv, { env: { CLAUDE_CODE_SESSION_ID: session } });
    const victimId = await victim.id();
    const body = "for the victim's eyes only";
    const sent = await runCli(testEnv, ["send", victimId, body]);
    assert.equal(sent.code, 0, sent.stderr);
    const args = [String(testEnv.port), await hookToken(secret), secret, session];

    const stolen = await steal(SQUATTER, args);
    for (const [what, attempt] of Object.entries(stolen)) {
      assert.equal(attempt.status, 403, `${what}: ${JSON.stringify(attempt)}`);
      assert.equal(attempt.body, "", `${what} got nothing back`);
    }
    const refusals =
      broker.stderr().match(/refused a connection that carried this user's credentials: .*/g) ?? [];
    assert.equal(refusals.length, 1, broker.stderr());
    assert.match(
      refusals[0]!,
      new RegExp(`belongs to user \\d+, and this broker serves user ${Deno.uid()} only`),
    );
    assert.doesNotMatch(broker.stderr(), /messages claimed/);

    // The same requests from the broker's own user: the message was kept for the victim.
    const own = await steal(null, args);
    assert.equal(own.hook.status, 200, JSON.stringify(own.hook));
    assert.match(own.hook.body ?? "", new RegExp(body));
    assert.equal(own.claim.status, 200, JSON.stringify(own.claim));
    assert.equal(own.peers.status, 200, JSON.stringify(own.peers));
    assert.match(own.peers.body ?? "", new RegExp(victimId));
    assert.equal(
      (broker.stderr().match(/refused a connection that carried/g) ?? []).length,
      1,
      "the broker's own user was never refused",
    );
  },
});
