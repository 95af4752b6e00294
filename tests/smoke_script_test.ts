/**
 * The CI smoke script .ci/smoke.ts, run the way CI runs it (`deno run -A .ci/smoke.ts <bin>`),
 * against a stand-in "binary": a shell script that execs `deno run main.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { selfInvocation } from "../broker/spawn.ts";
import { createTempDir, ON_WINDOWS, posixTestName } from "./_helpers.ts";

const SMOKE_TS = fileURLToPath(new URL("../.ci/smoke.ts", import.meta.url));
const RUN_TIMEOUT_MS = 60_000;

async function runSmoke(bin: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SMOKE_TS, bin],
    stdin: "null",
    signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}

Deno.test({
  name: posixTestName("the smoke script passes against a working binary", "runs a sh script"),
  ignore: ON_WINDOWS,
  async fn() {
    await using temp = await createTempDir("claude-peers-smoke-test-");
    const bin = join(temp.path, "claude-peers");
    const { command, args } = selfInvocation([]);
    const script = `#!/bin/sh\nexec ${[command, ...args].map(shellQuote).join(" ")} "$@"\n`;
    await Deno.writeTextFile(bin, script, { mode: 0o755 });
    const result = await runSmoke(bin);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /^broker answers on 127\.0\.0\.1:\d+$/m);
    assert.match(result.stdout, /^peers registered: [a-z0-9]{8} and [a-z0-9]{8}$/m);
    assert.match(result.stdout, /shows the message\nsmoke test passed\n$/);
  },
});

Deno.test({
  name: posixTestName(
    "the smoke script fails with a reason when the binary does not run",
    "runs a sh script",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using temp = await createTempDir("claude-peers-smoke-test-");
    const bin = join(temp.path, "claude-peers");
    await Deno.writeTextFile(bin, "#!/bin/sh\necho 'broken build' >&2\nexit 3\n", { mode: 0o755 });
    const result = await runSmoke(bin);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /smoke test failed: The broker exited early: broken build/);
    const usage = await runSmoke("");
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^Usage: deno run -A \.ci\/smoke\.ts /);
  },
});
