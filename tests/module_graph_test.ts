/**
 * The layering, checked on the real module graph (`deno info --json`): the broker never
 * loads the MCP SDK or front-end code, the front ends never load broker server code, and
 * main.ts reaches the broker and the MCP server by dynamic import only. What runs comes from
 * broker/_vendor/ (npm code pre-bundled by .ci/vendor.ts), never from the npm resolver; the npm
 * packages supply only types (and openai, loaded when an auto-summary is configured).
 *
 * @module
 */
import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The broker's server side: only broker/mod.ts and its own imports may load these. */
const BROKER_SERVER_MODULES = [
  "broker/mod.ts",
  "broker/core.ts",
  "broker/routes.ts",
  "broker/inbox.ts",
  "broker/connections.ts",
  "broker/peers.ts",
  "broker/mailbox.ts",
  "broker/send_commit.ts",
  "broker/queue_counts.ts",
  "broker/inbox_signals.ts",
  "broker/mail_records.ts",
  "broker/mail_log.ts",
  "broker/history.ts",
  "broker/events.ts",
  "broker/event_payloads.ts",
  "broker/observe_routes.ts",
  "broker/kv_keys.ts",
  "broker/http.ts",
  "broker/auth.ts",
  "broker/refusal.ts",
  "broker/listen.ts",
  "broker/gate.ts",
  "broker/gate_connection.ts",
  "broker/request_head.ts",
  "broker/inner_server.ts",
];

const MCP_SDK = "@modelcontextprotocol/sdk";
/** The pre-bundled MCP SDK: only the MCP server loads it. */
const MCP_SDK_BUNDLE = "broker/_vendor/mcp_sdk.js";
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** What a module loads: repo files relative to the root, npm package names, `node:` modules. */
interface Graph {
  files: Set<string>;
  packages: Set<string>;
  builtins: Set<string>;
}

interface Dependency {
  code?: { specifier?: string };
  type?: { specifier?: string };
  isDynamic?: boolean;
}

interface InfoModule {
  specifier: string;
  error?: string;
  dependencies?: Dependency[];
  typesDependency?: { dependency?: { specifier?: string } };
  npmPackage?: string;
}

interface Info {
  roots: string[];
  modules: InfoModule[];
  redirects: Record<string, string>;
  npmPackages: Record<string, { name: string; dependencies: string[] }>;
}

/**
 * The modules `path` (relative to the repo root) loads: static imports, type-only ones
 * included (unless `runtimeOnly`: what really runs), and with `dynamic` also dynamic imports;
 * npm packages with their own dependencies.
 */
async function moduleGraph(path: string, dynamic = false, runtimeOnly = false): Promise<Graph> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", path],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new Error(`deno info ${path} failed: ${decoder.decode(output.stderr)}`);
  }
  const info: Info = JSON.parse(decoder.decode(output.stdout));
  const bySpecifier = new Map(info.modules.map((module) => [module.specifier, module]));
  const resolve = (specifier: string) => info.redirects[specifier] ?? specifier;
  const graph: Graph = { files: new Set(), packages: new Set(), builtins: new Set() };
  const seen = new Set<string>();
  const pending = info.roots.map(resolve);
  const packagesPending: string[] = [];
  while (pending.length > 0) {
    const specifier = pending.pop()!;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    const module = bySpecifier.get(specifier);
    assert.ok(module, `deno info ${path}: no module entry for ${specifier}`);
    assert.equal(module.error, undefined, `deno info ${path}: ${specifier}: ${module.error}`);
    if (specifier.startsWith("file:")) {
      graph.files.add(relative(ROOT, fileURLToPath(specifier)).replaceAll("\\", "/"));
    }
    if (specifier.startsWith("node:")) graph.builtins.add(specifier);
    if (module.npmPackage) packagesPending.push(module.npmPackage);
    for (const dependency of module.dependencies ?? []) {
      if (dependency.isDynamic && !dynamic) continue;
      const targets = runtimeOnly
        ? [dependency.code?.specifier]
        : [dependency.code?.specifier, dependency.type?.specifier];
      for (const target of targets) if (target) pending.push(resolve(target));
    }
    const types = module.typesDependency?.dependency?.specifier;
    if (types && !runtimeOnly) pending.push(resolve(types));
  }
  const seenPackages = new Set<string>();
  while (packagesPending.length > 0) {
    const id = packagesPending.pop()!;
    if (seenPackages.has(id)) continue;
    seenPackages.add(id);
    const npmPackage = info.npmPackages[id];
    assert.ok(npmPackage, `deno info ${path}: no npm package entry for ${id}`);
    graph.packages.add(npmPackage.name);
    packagesPending.push(...npmPackage.dependencies);
  }
  return graph;
}

/** The TypeScript files of `dir` (relative to the repo root), sorted. */
async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(new URL(`../${dir}/`, import.meta.url))) {
    if (entry.isFile && entry.name.endsWith(".ts")) files.push(`${dir}/${entry.name}`);
  }
  return files.sort();
}

function assertNoServerModules(graph: Graph, root: string): void {
  const found = BROKER_SERVER_MODULES.filter((file) => graph.files.has(file));
  assert.deepEqual(found, [], `${root} loads broker server code: ${found.join(", ")}`);
}

function assertNoFilesUnder(graph: Graph, root: string, dirs: string[]): void {
  const found = [...graph.files].filter((file) => dirs.some((dir) => file.startsWith(`${dir}/`)));
  assert.deepEqual(found, [], `${root} loads ${dirs.join("/ or ")}/ code: ${found.join(", ")}`);
}

function assertNoMcpSdk(graph: Graph, root: string): void {
  assert.equal(graph.packages.has(MCP_SDK), false, `${root} loads ${MCP_SDK}`);
  assert.equal(graph.files.has(MCP_SDK_BUNDLE), false, `${root} loads ${MCP_SDK_BUNDLE}`);
}

Deno.test("the graph walk sees what each mode really loads", async () => {
  const [mcp, main, mainWithDynamic, broker] = await Promise.all([
    moduleGraph("mcp/mod.ts"),
    moduleGraph("main.ts"),
    moduleGraph("main.ts", true),
    moduleGraph("broker/mod.ts"),
  ]);
  // Without these the checks below could pass on a walk that finds nothing.
  assert.ok(mcp.packages.has(MCP_SDK), `mcp/mod.ts should take its types from ${MCP_SDK}`);
  assert.ok(mcp.files.has(MCP_SDK_BUNDLE), `mcp/mod.ts should load ${MCP_SDK_BUNDLE}`);
  assert.ok(mcp.files.has("mcp/context.ts"));
  assert.ok(main.files.has("cli/fail.ts"));
  assert.ok(mainWithDynamic.files.has("cli/mod.ts"));
  assert.ok(broker.files.has("broker/routes.ts"));
  assert.ok(broker.packages.has("zod"), "the protocol's types come from zod");
  assert.ok(broker.files.has("broker/_vendor/zod_v3.js"));
  for (const lazy of ["broker/mod.ts", "mcp/mod.ts"]) {
    assert.ok(mainWithDynamic.files.has(lazy), `main.ts should import ${lazy} dynamically`);
  }
  assert.ok(mainWithDynamic.packages.has(MCP_SDK));
});

Deno.test("what each mode runs loads no npm package: the npm code comes pre-bundled", async () => {
  // Each npm module costs memory in every process (issue 11); broker/_vendor/ holds the bundles.
  const roots = ["broker/mod.ts", "mcp/mod.ts", "cli/hook.ts", "cli/mod.ts", "main.ts"];
  const graphs = await Promise.all(roots.map((root) => moduleGraph(root, false, true)));
  roots.forEach((root, i) => {
    assert.deepEqual(
      [...graphs[i]!.packages],
      [],
      `${root} runs npm code: import it from broker/_vendor/ (add it to .ci/vendor.ts, run deno task vendor)`,
    );
  });
  assert.ok(graphs[1]!.files.has(MCP_SDK_BUNDLE), "the walk follows the bundle");
  // The one npm package a mode may load: openai, when an auto-summary is configured.
  const withDynamic = await moduleGraph("mcp/mod.ts", true, true);
  assert.ok(withDynamic.packages.has("openai"), "the walk follows dynamic imports");
  assert.equal(withDynamic.packages.has(MCP_SDK), false, "mcp/mod.ts runs the npm MCP SDK");
});

Deno.test("a waiting hook loads neither zod nor the MCP SDK nor the other commands", async () => {
  // What runs: type-only imports (of the protocol's types) are erased.
  const graph = await moduleGraph("cli/hook.ts", false, true);
  assert.ok(graph.files.has("broker/hook_client.ts"), "the walk found the hook's client");
  assert.ok((await moduleGraph("cli/hook.ts")).packages.has("zod"), "types do come from zod");
  assertNoMcpSdk(graph, "cli/hook.ts");
  assert.ok(!graph.packages.has("zod"), `cli/hook.ts loads zod`);
  assert.ok(!graph.files.has("cli/mod.ts"), "cli/hook.ts loads the command table");
  // main.ts loads before every command, the hook too.
  const main = await moduleGraph("main.ts", false, true);
  assert.ok(!main.packages.has("zod"), "main.ts loads zod before dispatching");
});

Deno.test("the broker never loads the MCP SDK, the MCP server or the CLI", async () => {
  const graph = await moduleGraph("broker/mod.ts");
  assertNoMcpSdk(graph, "broker/mod.ts");
  assertNoFilesUnder(graph, "broker/mod.ts", ["mcp", "cli"]);
});

Deno.test("the broker command loads neither the command table nor any node: module", async () => {
  // It runs all day: the table would hold every command's code, node:util Node's polyfills.
  const graph = await moduleGraph("cli/broker.ts", false, true);
  assert.ok(graph.files.has("broker/log.ts"), "the walk found the broker command's imports");
  assert.ok(!graph.files.has("cli/mod.ts"), "cli/broker.ts loads the command table");
  assert.deepEqual([...graph.builtins], [], "cli/broker.ts loads node: modules");
  const main = await Deno.readTextFile(new URL("../main.ts", import.meta.url));
  assert.ok(
    main.includes(`import("./cli/broker.ts")`),
    "main.ts reaches the broker command directly",
  );
});

Deno.test("the MCP server never loads broker server code", async () => {
  assertNoServerModules(await moduleGraph("mcp/mod.ts"), "mcp/mod.ts");
});

Deno.test("the MCP server's stdio loads no Node stream: node:process alone costs it ~2 MB", async () => {
  const [graph, logCommand] = await Promise.all([
    moduleGraph("mcp/mod.ts", false, true),
    moduleGraph("cli/log.ts", false, true),
  ]);
  assert.ok(graph.files.has("mcp/stdio.ts"), "the walk found the server's transport");
  assert.ok(logCommand.builtins.has("node:util"), "the walk records node: modules");
  assert.equal(graph.builtins.has("node:process"), false, "mcp/mod.ts loads node:process");
});

Deno.test("no CLI module statically loads broker server code, the MCP server or its SDK", async () => {
  const files = await sourceFiles("cli");
  assert.ok(files.includes("cli/mod.ts"));
  const graphs = await Promise.all(files.map((file) => moduleGraph(file)));
  files.forEach((file, i) => {
    const graph = graphs[i]!;
    assertNoServerModules(graph, file);
    assertNoFilesUnder(graph, file, ["mcp"]);
    assertNoMcpSdk(graph, file);
  });
});

Deno.test("main.ts loads the broker and the MCP server by dynamic import only", async () => {
  const graph = await moduleGraph("main.ts");
  assertNoServerModules(graph, "main.ts");
  assertNoFilesUnder(graph, "main.ts", ["mcp"]);
  assertNoMcpSdk(graph, "main.ts");
});
