/**
 * The broker's files on disk, through the real CLI and an auto-started broker: owner-only
 * modes, and the secret never written to the log. Request handling itself is tested
 * in-process in routes_test.ts and fuzz_test.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createTestEnv, ON_WINDOWS, posixTestName, runCli } from "./_helpers.ts";

Deno.test({
  name: posixTestName(
    "the secret, database and log are readable by their owner only",
    "no POSIX file modes",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv();
    const peers = await runCli(testEnv, ["peers"]);
    assert.equal(peers.code, 0, peers.stderr);
    const mode = async (path: string) => ((await Deno.stat(path)).mode ?? 0) & 0o777;
    assert.equal(await mode(`${testEnv.dbPath}.d`), 0o700);
    assert.equal(await mode(`${testEnv.dbPath}.d/secret`), 0o600);
    assert.equal(await mode(`${testEnv.dbPath}.d/broker.log`), 0o600);
    assert.equal(await mode(testEnv.dbPath), 0o600);
    const log = await Deno.readTextFile(`${testEnv.dbPath}.d/broker.log`);
    const secret = (await Deno.readTextFile(`${testEnv.dbPath}.d/secret`)).trim();
    assert.equal(secret.length, 64);
    assert.ok(!log.includes(secret), "the secret is never logged");
  },
});
