/**
 * Another OS user squatting the broker's port (made with `useradd`; root and Linux only, else
 * ignored with the reason): it answers like a claude-peers broker but cannot prove it holds the
 * victim's secret. The victim's CLI, MCP server and hooks refuse it before sending any
 * credential or message, and `doctor` names it with its owner.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { claudePeersCommand, createTestEnv, runCli, spawnMcp, waitFor } from "./_helpers.ts";
import { resolveConfig } from "../broker/config.ts";
import { loadOrCreateSecret } from "../broker/secret.ts";

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

/** What the squatter runs: answers like a broker, logs every request it gets. */
const SQUAT_SCRIPT = `
const [port, log] = Deno.args;
Deno.serve({ hostname: "127.0.0.1", port: Number(port), onListen() {} }, async (request) => {
  const body = await request.text();
  const line = JSON.stringify({ method: request.method, url: request.url,
    headers: Object.fromEntries(request.headers), body });
  await Deno.writeTextFile(log, line + "\\n", { append: true });
  const url = new URL(request.url);
  if (url.pathname === "/health") {
    return Response.json({ service: "claude-peers", version: "0.1.0", proof: "0".repeat(64) });
  }
  return Response.json({ peer_id: "aaaaaaaa", session: "s", resumed: false, peers: [] });
});
`;

Deno.test({
  name: `another user squatting the port gets no secret, credential or message${
    skip ? ` [ignored: ${skip}]` : ""
  }`,
  ignore: skip !== null,
  async fn() {
    await using testEnv = await createTestEnv({ CLAUDE_PEERS_CHANNEL: "off" });
    const config = resolveConfig({ get: (name) => testEnv.env[name] });
    const secret = await loadOrCreateSecret(config.secretPath, config.stateDir);
    const place = await Deno.makeTempDir({ prefix: "claude-peers-squat-" });
    await Deno.chmod(place, 0o777);
    const script = join(place, "squat.ts");
    const log = join(place, "requests.log");
    await Deno.writeTextFile(script, SQUAT_SCRIPT);
    await Deno.writeTextFile(log, "");
    await Deno.chmod(script, 0o644);
    await Deno.chmod(log, 0o666);
    const squatter = new Deno.Command("runuser", {
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
        `--allow-net=127.0.0.1:${testEnv.port}`,
        `--allow-write=${log}`,
        script,
        String(testEnv.port),
        log,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      await waitFor(
        async () =>
          (await fetch(`${config.brokerUrl}/`).then((r) => r.body?.cancel(), () => null)) !==
            null,
        15_000,
        "the squatter to listen",
      );
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

      const seen = await Deno.readTextFile(log);
      assert.ok(seen.includes("/health?challenge="), "the squatter was asked to prove itself");
      assert.ok(
        !seen.includes(secret),
        `the secret never reached the squatter: ${
          seen.split("\n").filter((l) => l.includes(secret)).map((l) => l.slice(0, 300)).join("\n")
        }`,
      );
      assert.doesNotMatch(
        seen,
        /authorization|x-claude-peers-session|x-claude-peers-claude-session/i,
      );
      assert.doesNotMatch(seen, /\/register|\/send|\/stream|\/claim|\/wait/);
    } finally {
      await succeeds("pkill", ["-KILL", "-u", SQUATTER]);
      await squatter.status;
      await squatter.stderr.cancel().catch(() => {});
      await Deno.remove(place, { recursive: true });
    }
  },
});
