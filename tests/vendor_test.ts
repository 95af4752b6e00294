/**
 * broker/_vendor/ (the npm code, pre-bundled by .ci/vendor.ts) stays in step with deno.lock: every
 * bundle names the packages it was built from, and under the Deno that built it a rebuild
 * gives the same bytes. A dependency bump without `deno task vendor` fails here.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ABSENT_PACKAGES,
  buildVendor,
  bundleHeader,
  VENDOR_DIR,
  VENDOR_ENTRIES,
} from "../.ci/vendor.ts";
import { createTempDir } from "./_helpers.ts";

const STALE = "broker/_vendor/ is out of date: run `deno task vendor`";

/** A checked-out text file; a Windows checkout may have turned its line ends into CRLF. */
async function readText(path: string): Promise<string> {
  return (await Deno.readTextFile(path)).replaceAll("\r\n", "\n");
}

async function vendorFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) files.push(entry.name);
  return files.sort();
}

Deno.test("every bundle in broker/_vendor/ was built from the npm packages deno.lock pins", async () => {
  for (const entry of VENDOR_ENTRIES) {
    const text = await readText(join(VENDOR_DIR, `${entry.name}.js`));
    const builtBy = text.match(/Built by deno (\S+)\./)?.[1];
    assert.ok(builtBy, `broker/_vendor/${entry.name}.js has no header`);
    const header = await bundleHeader(entry, builtBy);
    assert.equal(text.slice(0, header.length), header, `${entry.name}.js: ${STALE}`);
  }
});

Deno.test("a rebuild of broker/_vendor/ under the Deno that built it gives the same files", async (t) => {
  const first = await readText(join(VENDOR_DIR, `${VENDOR_ENTRIES[0]!.name}.js`));
  if (!first.includes(`Built by deno ${Deno.version.deno}.`)) {
    // Another esbuild may minify differently; the header test above still guards the inputs.
    t.step({ name: "skipped: broker/_vendor/ was built by another Deno", ignore: true, fn() {} });
    return;
  }
  await using temp = await createTempDir("claude-peers-vendor-test-");
  const built = await buildVendor(temp.path);
  assert.deepEqual(built, await vendorFiles(VENDOR_DIR), STALE);
  for (const file of built) {
    assert.equal(
      await readText(join(temp.path, file)),
      await readText(join(VENDOR_DIR, file)),
      `${file}: ${STALE}`,
    );
  }
});

Deno.test("the MCP SDK bundle carries no Ajv: it imports the packages left out from absent.js, which throws", async () => {
  const code = await readText(join(VENDOR_DIR, "mcp_sdk.js"));
  for (const name of ABSENT_PACKAGES) {
    assert.ok(!code.includes(`"${name}"`), `mcp_sdk.js imports "${name}"`);
  }
  assert.match(code, /from"\.\/absent\.js"/);
  // A message of Ajv's code generator, so Ajv's own code would show here.
  assert.ok(!code.includes("CodeGen: name must be a valid identifier"), "mcp_sdk.js holds Ajv");
  const { default: Absent } = await import("../broker/_vendor/absent.js");
  assert.throws(() => Absent(), /claude-peers bundles no ajv/);
});
