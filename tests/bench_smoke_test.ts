/**
 * Keeps the benchmark from rotting: one run with tiny sizes, checking its JSON report.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createTempDir } from "./_helpers.ts";

Deno.test({
  name: `the benchmark runs with tiny sizes and reports intact delivery${
    Deno.build.os === "linux" ? "" : " [ignored: the benchmark reads /proc, Linux only]"
  }`,
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using temp = await createTempDir("claude-peers-bench-");
    const out = join(temp.path, "bench.json");
    const bench = new URL("../bench/main.ts", import.meta.url);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", bench.href, "--quick", "--out", out],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.match(new TextDecoder().decode(output.stdout), /target +before +now +target +result/);
    const report = JSON.parse(await Deno.readTextFile(out));
    assert.equal(report.quick, true);
    assert.equal(report.throughput.lost, 0);
    assert.equal(report.throughput.duplicated, 0);
    assert.equal(report.throughput.outOfOrder, 0);
    assert.ok(report.latencyMs.p50 > 0);
    assert.equal(report.scale.length, 2);
    assert.ok(report.targets.length >= 8);
    assert.ok(report.memory.server.privateMb > 0 && report.memory.broker.privateMb > 0);
    assert.ok(report.soak.messages > 0, "the soak sent messages");
    assert.ok(report.soak.broker.heapMb.start > 0 && report.soak.server.heapMb.end > 0);
    for (const target of report.targets) assert.equal(typeof target.pass, "boolean");
  },
});
