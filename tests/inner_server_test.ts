/**
 * The inner server survives running out of file descriptors: `Deno.serve` stops for good when
 * one accept fails, so the broker starts it again on the same socket.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createTempDir, ON_WINDOWS, posixTestName } from "./_helpers.ts";

Deno.test({
  name: posixTestName(
    "the inner server is started again after an accept fails for want of file descriptors",
    "needs ulimit and Unix sockets",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using dir = await createTempDir("claude-peers-inner-");
    const script = fileURLToPath(new URL("./_fixtures/inner_exhaust.ts", import.meta.url));
    const config = fileURLToPath(new URL("../deno.json", import.meta.url));
    const output = await new Deno.Command("sh", {
      args: [
        "-c",
        `ulimit -n 60 && exec "$0" run -A --quiet --config "$1" "$2" "$3"`,
        Deno.execPath(),
        config,
        script,
        dir.path,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.match(stdout, /^served again after holding \d+/, stderr);
    assert.match(stderr, /stopped accepting \(.*Too many open files.*\): starting it again/);
  },
});
