/**
 * The broker's log stays in bounds however long the broker runs, and a broker that starts and
 * loses the port (a start race, `claude-peers broker` run by hand) leaves the running broker's
 * log where it is: real brokers, the real CLI.
 *
 * @module
 */
import assert from "node:assert/strict";
import { brokerCommand, createTestEnv, runCli, within } from "./_helpers.ts";
import { MAX_LOG_BYTES } from "../broker/log.ts";

Deno.test("the running broker keeps its log to 1 MiB, and a broker that loses the port does not move it", async () => {
  await using testEnv = await createTestEnv();
  const logPath = `${testEnv.dbPath}.d/broker.log`;
  const registration = { pid: Deno.pid, cwd: testEnv.dir, git_root: null, repo: null, tty: null };
  // The first command starts the broker, which logs to broker.log.
  const started = await within(runCli(testEnv, ["peers"]), "peers", 30_000);
  assert.equal(started.code, 0, started.stderr);
  // The log as a long run leaves it: just under the limit.
  const size = (await Deno.stat(logPath)).size;
  await Deno.writeTextFile(logPath, "x".repeat(MAX_LOG_BYTES - size - 10) + "\n", { append: true });
  // Another broker starts, loses the port and exits, writing why.
  const loser = await within(
    brokerCommand(testEnv, ["--log-file", logPath]).output(),
    "the losing broker",
    30_000,
  );
  assert.equal(loser.code, 1);
  assert.match(await Deno.readTextFile(logPath), /already in use/, "its line is in the same log");
  // The running broker's next line passes the limit: it moves the log and starts afresh.
  const { peer_id } = await testEnv.client().register(registration);
  const current = await Deno.readTextFile(logPath);
  assert.ok(current.includes(peer_id), "the running broker writes to broker.log");
  assert.ok(current.length < 4096, `broker.log started afresh (${current.length} bytes)`);
  const moved = await Deno.readTextFile(`${logPath}.1`);
  assert.match(moved, /already in use/, "broker.log.1 holds what came before");
});
