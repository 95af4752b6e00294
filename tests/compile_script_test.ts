/**
 * The release build script .ci/compile.ts: the exact `deno compile` commands it runs (checked
 * through `--dry-run`, since compiling needs a runtime download) and the SHA256SUMS it writes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { COMPILE_FLAGS, writeChecksums } from "../.ci/compile.ts";
import {
  LAZY_DYNAMIC_IMPORTS_FLAG,
  PERMISSION_FLAGS,
  selfInvocation,
  V8_FLAGS_ARG,
} from "../broker/spawn.ts";
import denoJson from "../deno.json" with { type: "json" };
import { createTempDir } from "./_helpers.ts";

const COMPILE_TS = fileURLToPath(new URL("../.ci/compile.ts", import.meta.url));
const RUN_TIMEOUT_MS = 30_000;

/** The flags a release is built with, spelled out here so a change to them shows in review. */
const EXPECTED_FLAGS = "--allow-net --allow-read --allow-write --allow-env --allow-run " +
  "--allow-sys --unstable-kv " +
  "--v8-flags=--max-semi-space-size=1,--memory-saver-mode,--gc-memory-reducer-start-delay-ms=1000," +
  "--no-sparkplug " +
  "--config deno.json --frozen";

async function runCompileScript(args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", COMPILE_TS, ...args],
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

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

Deno.test("compile --all --dry-run prints one deno compile per release target with the exact flags", async () => {
  const result = await runCompileScript(["--dry-run", "--all"]);
  assert.equal(result.code, 0, result.stderr);
  const expected = [
    ["x86_64-unknown-linux-gnu", "dist/claude-peers-x86_64-unknown-linux-gnu"],
    ["aarch64-unknown-linux-gnu", "dist/claude-peers-aarch64-unknown-linux-gnu"],
    ["x86_64-apple-darwin", "dist/claude-peers-x86_64-apple-darwin"],
    ["aarch64-apple-darwin", "dist/claude-peers-aarch64-apple-darwin"],
    ["x86_64-pc-windows-msvc", "dist/claude-peers-x86_64-pc-windows-msvc.exe"],
  ].map(([target, output]) =>
    `deno compile ${EXPECTED_FLAGS} --target ${target} --output ${output} main.ts`
  );
  assert.deepEqual(result.stdout.trimEnd().split(/\r?\n/), expected);
});

Deno.test("compile --dry-run builds only this machine's binary into dist/claude-peers", async () => {
  const result = await runCompileScript(["--dry-run"]);
  assert.equal(result.code, 0, result.stderr);
  const output = Deno.build.os === "windows" ? "dist/claude-peers.exe" : "dist/claude-peers";
  assert.equal(
    result.stdout,
    `deno compile ${EXPECTED_FLAGS} --target ${Deno.build.target} --output ${output} main.ts\n`,
  );
});

Deno.test("compile rejects an unknown argument with a usage line", async () => {
  const result = await runCompileScript(["--al"]);
  assert.equal(result.code, 1);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^error: Unknown argument "--al" \(Usage: .*\)\n$/);
});

Deno.test("the binary is granted exactly the permissions that deno run self-invocation uses", () => {
  const permissions = COMPILE_FLAGS.filter((flag) => flag.startsWith("--allow-"));
  assert.deepEqual(permissions, [...PERMISSION_FLAGS]);
});

Deno.test("the binary, deno run self-invocation and deno task start run with the same V8 flags", () => {
  assert.deepEqual(COMPILE_FLAGS.filter((flag) => flag.startsWith("--v8-flags")), [V8_FLAGS_ARG]);
  assert.ok(selfInvocation(["mcp"]).args.includes(V8_FLAGS_ARG));
  assert.ok(denoJson.tasks.start.split(" ").includes(V8_FLAGS_ARG), denoJson.tasks.start);
});

Deno.test("deno run self-invocation and deno task start resolve dynamic imports when they run", () => {
  // Each mode is a dynamic import of main.ts: eagerly, every process would hold every mode's graph.
  assert.ok(selfInvocation(["mcp"]).args.includes(LAZY_DYNAMIC_IMPORTS_FLAG));
  assert.ok(denoJson.tasks.start.split(" ").includes(LAZY_DYNAMIC_IMPORTS_FLAG));
  // deno compile puts every module in the binary and takes no such flag.
  assert.ok(!COMPILE_FLAGS.includes(LAZY_DYNAMIC_IMPORTS_FLAG));
});

Deno.test("writeChecksums writes SHA256SUMS exactly as sha256sum prints it", async () => {
  await using temp = await createTempDir("claude-peers-checksums-test-");
  const dir = temp.path;
  const files: Record<string, Uint8Array<ArrayBuffer>> = {
    "claude-peers-x86_64-unknown-linux-gnu": new TextEncoder().encode("#!/bin/sh\necho hi\n"),
    "claude-peers-x86_64-pc-windows-msvc.exe": new Uint8Array([0, 1, 2, 255, 254, 10, 13]),
    "empty": new Uint8Array(),
  };
  for (const [name, bytes] of Object.entries(files)) await Deno.writeFile(join(dir, name), bytes);
  const names = Object.keys(files);

  const written = await writeChecksums(dir, names);

  const expected = (await Promise.all(
    names.map(async (name) => `${await sha256Hex(files[name]!)}  ${name}\n`),
  )).join("");
  assert.equal(written, expected);
  assert.equal(await Deno.readTextFile(join(dir, "SHA256SUMS")), expected);
  assert.ok(
    expected.includes(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty\n",
    ),
  );
  // Where GNU sha256sum exists (Linux, not every macOS or Windows runner), it must agree.
  const sha256sum = await new Deno.Command("sha256sum", {
    args: names,
    cwd: dir,
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
  }).output().catch(() => undefined);
  if (sha256sum?.success) assert.equal(new TextDecoder().decode(sha256sum.stdout), expected);
});
