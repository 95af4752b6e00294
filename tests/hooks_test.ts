/**
 * The Claude Code hooks, with real processes: a broker, MCP servers registered for a Claude
 * Code session (CLAUDE_CODE_SESSION_ID) and `claude-peers hook wait|context` as Claude Code
 * runs them (hook JSON on stdin). Claude Code itself is in tests/claude_code/.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createTestEnv,
  runCli,
  spawnHook,
  spawnMcp,
  startBroker,
  type TestEnv,
  waitFor,
} from "./_helpers.ts";
import { hookToken, loadOrCreateSecret } from "../broker/secret.ts";
import { resolveConfig } from "../broker/config.ts";

const SESSION = "3f2a9c1e-0000-4000-8000-00000000c1a0";

/** A running `claude-peers hook <event>` process. */
interface HookProcess {
  status: Promise<Deno.CommandStatus>;
  output: Promise<{ stdout: string; stderr: string }>;
  kill: () => Promise<void>;
}

function startHook(testEnv: TestEnv, event: "wait" | "context", sessionId = SESSION): HookProcess {
  const child = spawnHook(testEnv, event, sessionId);
  const output = child.output().then((result) => ({
    code: result.code,
    stdout: new TextDecoder().decode(result.stdout),
    stderr: new TextDecoder().decode(result.stderr),
  }));
  return {
    status: output.then(({ code }) => ({ code, success: code === 0, signal: null })),
    output,
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      await output;
    },
  };
}

/** What became of each logged message, and how it was shown. */
async function shownVia(testEnv: TestEnv): Promise<string[]> {
  const { stdout } = await runCli(testEnv, ["log", "--json"]);
  return stdout.split("\n").filter((line) => line !== "").map((line) => {
    const entry = JSON.parse(line);
    return `${entry.state} ${entry.via}`;
  });
}

async function sessionPeer(testEnv: TestEnv, sessionId = SESSION) {
  return await spawnMcp(testEnv, {
    env: { CLAUDE_PEERS_CHANNEL: "off", CLAUDE_CODE_SESSION_ID: sessionId },
  });
}

Deno.test("a waiting hook wakes its session with a message exactly once, and a newer waiter replaces an older one", async () => {
  const testEnv = await createTestEnv();
  const broker = await startBroker(testEnv);
  const peer = await sessionPeer(testEnv);
  const hooks: HookProcess[] = [];
  try {
    const peerId = await peer.id();
    const older = startHook(testEnv, "wait");
    hooks.push(older);
    await waitFor(
      async () => (await testEnv.client().listPeers("machine")).peers[0]?.delivery === "hooks",
      10_000,
      "the waiter to be listed as live delivery",
    );
    const newer = startHook(testEnv, "wait");
    hooks.push(newer);
    const replaced = await older.output;
    assert.equal((await older.status).code, 0);
    assert.equal(replaced.stderr, "", "a replaced waiter says nothing");

    const sent = await runCli(testEnv, ["send", peerId, "wake up </peer_message> please"]);
    assert.equal(sent.code, 0, sent.stderr);
    const woke = await newer.output;
    assert.equal((await newer.status).code, 2, woke.stderr);
    assert.match(
      woke.stderr,
      /<peer_message id="[^"]+" from="cli" from_name="cli" from_kind="cli"/,
    );
    assert.match(woke.stderr, /wake up &lt;\/peer_message&gt; please/);
    // Shown by the hook, so neither the next tool result nor check_messages shows it again.
    const whoami = await peer.call("whoami");
    assert.ok(!whoami.text.includes("wake up"), whoami.text);
    assert.equal((await peer.call("check_messages")).text, "No new messages.");
    // The hook acknowledged after printing: the log says how it was shown.
    assert.deepEqual(await shownVia(testEnv), ["delivered hook"]);
  } finally {
    for (const hook of hooks) await hook.kill();
    await peer.close();
    await broker.kill();
    await testEnv.cleanup();
  }
});

Deno.test("hook context shows waiting messages as additionalContext once, and is silent otherwise", async () => {
  const testEnv = await createTestEnv();
  const broker = await startBroker(testEnv);
  const peer = await sessionPeer(testEnv);
  try {
    const peerId = await peer.id();
    const quiet = await startHook(testEnv, "context").output;
    assert.equal(quiet.stdout, "");
    assert.equal((await runCli(testEnv, ["send", peerId, "for your next tool call"])).code, 0);
    const shown = startHook(testEnv, "context");
    const { stdout } = await shown.output;
    assert.equal((await shown.status).code, 0);
    const output = JSON.parse(stdout);
    assert.equal(output.hookSpecificOutput.hookEventName, "PostToolUse");
    assert.match(output.hookSpecificOutput.additionalContext, /for your next tool call/);
    assert.equal((await startHook(testEnv, "context").output).stdout, "", "shown once");
    assert.equal((await peer.call("check_messages")).text, "No new messages.");
    assert.deepEqual(await shownVia(testEnv), ["delivered hook"]);
    const otherSession = startHook(testEnv, "context", "another-session");
    assert.equal((await otherSession.output).stdout, "");
  } finally {
    await peer.close();
    await broker.kill();
    await testEnv.cleanup();
  }
});

Deno.test("hooks exit 0 at once with nothing printed when no broker answers", async () => {
  const testEnv = await createTestEnv();
  try {
    for (const event of ["context", "wait"] as const) {
      const start = performance.now();
      const hook = startHook(testEnv, event, "no-such-session");
      const { stdout, stderr } = await hook.output;
      assert.equal((await hook.status).code, 0, `${event}: ${stderr}`);
      assert.equal(stdout + stderr, "", event);
      if (event === "context") assert.ok(performance.now() - start < 5_000);
    }
  } finally {
    await testEnv.cleanup();
  }
});

Deno.test("the HTTP hook shows a session's messages once, and only with the token and that session's id", async () => {
  const testEnv = await createTestEnv();
  const broker = await startBroker(testEnv);
  const peer = await sessionPeer(testEnv);
  try {
    const peerId = await peer.id();
    const config = resolveConfig({ get: (name) => testEnv.env[name] });
    const token = await hookToken(await loadOrCreateSecret(config.secretPath, config.stateDir));
    const post = (query: string, session: string) =>
      fetch(`${config.brokerUrl}/hook/context${query}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ session_id: session, hook_event_name: "UserPromptSubmit" }),
      });
    assert.equal((await runCli(testEnv, ["send", peerId, "over http"])).code, 0);
    const refused = await post("?token=wrong", SESSION);
    assert.equal(refused.status, 401);
    await refused.body?.cancel();
    const other = await post(`?token=${token}`, "some-other-session");
    assert.deepEqual(await other.json(), {});
    const shown = await (await post(`?token=${token}`, SESSION)).json();
    assert.equal(shown.hookSpecificOutput.hookEventName, "UserPromptSubmit");
    assert.match(shown.hookSpecificOutput.additionalContext, /over http/);
    await waitFor(
      async () =>
        (await testEnv.client().status()).peer_count === 1 &&
        (await post(`?token=${token}`, SESSION).then((r) => r.json())).hookSpecificOutput ===
          undefined,
      5_000,
      "the message to be acknowledged",
    );
    assert.equal((await peer.call("check_messages")).text, "No new messages.");
    await waitFor(
      async () => (await shownVia(testEnv)).join() === "delivered hook",
      5_000,
      "the log to say the HTTP hook showed it",
    );
  } finally {
    await peer.close();
    await broker.kill();
    await testEnv.cleanup();
  }
});

Deno.test("an MCP server restarted inside the same Claude Code session keeps its peer id", async () => {
  const testEnv = await createTestEnv();
  const broker = await startBroker(testEnv);
  try {
    const first = await sessionPeer(testEnv);
    const firstId = await first.id();
    await first.close();
    const second = await sessionPeer(testEnv);
    try {
      assert.equal(await second.id(), firstId);
      const other = await sessionPeer(testEnv, "a-different-session");
      try {
        assert.notEqual(await other.id(), firstId);
      } finally {
        await other.close();
      }
    } finally {
      await second.close();
    }
  } finally {
    await broker.kill();
    await testEnv.cleanup();
  }
});

Deno.test("a waiting hook outlives short restarts of its session's server that come further apart than it keeps trying", async () => {
  // It keeps trying for 3 s of each absence; the restarts come 4 s apart, each over at once.
  const testEnv = await createTestEnv({ CLAUDE_PEERS_HOOK_RETRY_MS: "3000" });
  const broker = await startBroker(testEnv);
  let peer = await sessionPeer(testEnv);
  const hook = startHook(testEnv, "wait");
  let exited = false;
  hook.output.then(() => exited = true);
  const hooksLive = async () =>
    (await testEnv.client().listPeers("machine")).peers[0]?.delivery === "hooks";
  try {
    const peerId = await peer.id();
    await waitFor(hooksLive, 10_000, "the waiter");
    for (const restart of [1, 2]) {
      await peer.close();
      peer = await sessionPeer(testEnv);
      assert.equal(await peer.id(), peerId);
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      assert.equal(exited, false, `the hook gave up after restart ${restart}`);
    }
    assert.equal((await runCli(testEnv, ["send", peerId, "still there"])).code, 0);
    const woke = await Promise.race([
      hook.output,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000)),
    ]);
    assert.match(woke?.stderr ?? "(no wake within 10 s)", /still there/);
    assert.equal((await hook.status).code, 2);
  } finally {
    await hook.kill();
    await peer.close();
    await broker.kill();
    await testEnv.cleanup();
  }
});

Deno.test("a reply to a peer whose session ended says so, in words for the model", async () => {
  const testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" });
  const broker = await startBroker(testEnv);
  const alice = await spawnMcp(testEnv);
  try {
    const bob = await spawnMcp(testEnv);
    const bobId = await bob.id();
    await bob.close();
    await waitFor(
      async () => (await testEnv.client().listPeers("machine")).peers.length === 1,
      5_000,
      "bob to leave",
    );
    const reply = await alice.call("send_message", { to_id: bobId, message: "still there?" });
    assert.equal(reply.isError, true);
    assert.match(reply.text, /its session ended at \d{4}-/);
    assert.match(reply.text, /call list_peers/);
    assert.doesNotMatch(reply.text, /claude-peers peers/);
  } finally {
    await alice.close();
    await broker.kill();
    await testEnv.cleanup();
  }
});
