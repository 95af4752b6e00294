/**
 * Builds the release binaries with `deno compile`: one for this machine (`dist/claude-peers`),
 * or, with `--all`, one per release target (`dist/claude-peers-<target>[.exe]`) plus
 * `dist/SHA256SUMS` in the format `sha256sum` prints. `--dry-run` prints the commands instead of
 * running them, one per line, with `deno` standing for the running Deno executable.
 *
 * Run from anywhere: commands run in the repository root and paths are relative to it. This
 * script never edits source files and downloads nothing itself (`deno compile` fetches the
 * `denort` runtime it embeds, once per target, into the Deno cache).
 *
 * ```sh
 * deno run -A .ci/compile.ts [--all] [--dry-run]
 * ```
 *
 * @module
 */
// deno-lint-ignore-file no-console -- a build script reports to the terminal
import { fileURLToPath } from "node:url";
import { PERMISSION_FLAGS, V8_FLAGS_ARG } from "../broker/spawn.ts";

/**
 * Every flag the binary is compiled with, besides `--target` and `--output`. The permissions are
 * baked into the binary, so this list is what a release is allowed to do.
 */
export const COMPILE_FLAGS: readonly string[] = [
  // The same permissions `deno run` mode re-invokes itself with: one list for both modes.
  ...PERMISSION_FLAGS,
  "--unstable-kv",
  // The same V8 flags as well (baked into the binary, like the permissions).
  V8_FLAGS_ARG,
  "--config",
  "deno.json",
  "--frozen",
];

/** The program's entry point, relative to the repository root. */
export const ENTRY_POINT = "main.ts";

/** Where binaries and SHA256SUMS are written, relative to the repository root. */
export const DIST_DIR = "dist";

/** The targets a release ships, in the order they are built. */
export const RELEASE_TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

/** The name of the checksum file written beside the release binaries. */
export const CHECKSUMS_FILE = "SHA256SUMS";

/** One `deno compile` run: the target and the binary's path relative to the repository root. */
export interface CompileJob {
  target: string;
  output: string;
}

/** The jobs to run: the host binary, or with `all` one binary per release target. */
export function compileJobs(all: boolean, hostTarget: string = Deno.build.target): CompileJob[] {
  if (!all) {
    const exe = hostTarget.includes("windows") ? ".exe" : "";
    return [{ target: hostTarget, output: `${DIST_DIR}/claude-peers${exe}` }];
  }
  return RELEASE_TARGETS.map((target) => ({
    target,
    output: `${DIST_DIR}/${releaseAssetName(target)}`,
  }));
}

/** The file name a release target's binary is published under, e.g. `claude-peers-aarch64-apple-darwin`. */
export function releaseAssetName(target: string): string {
  return `claude-peers-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/** The arguments after `deno` that compile one job. */
export function compileArgs(job: CompileJob): string[] {
  return ["compile", ...COMPILE_FLAGS, "--target", job.target, "--output", job.output, ENTRY_POINT];
}

/**
 * Writes `<dir>/SHA256SUMS` for `files` (names inside `dir`), one `<hex>  <name>` line each in
 * the given order, exactly as `sha256sum` prints them; returns the text written.
 */
export async function writeChecksums(dir: string, files: readonly string[]): Promise<string> {
  const lines: string[] = [];
  for (const file of files) {
    const bytes = await Deno.readFile(`${dir}/${file}`);
    lines.push(`${await sha256Hex(bytes)}  ${file}\n`);
  }
  const text = lines.join("");
  await Deno.writeTextFile(`${dir}/${CHECKSUMS_FILE}`, text);
  return text;
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Options read from the command line. */
interface CompileOptions {
  all: boolean;
  dryRun: boolean;
}

const USAGE = "Usage: deno run -A .ci/compile.ts [--all] [--dry-run]";

function parseOptions(args: string[]): CompileOptions {
  const options = { all: false, dryRun: false };
  for (const arg of args) {
    if (arg === "--all") options.all = true;
    else if (arg === "--dry-run") options.dryRun = true;
    else throw new Error(`Unknown argument "${arg}" (${USAGE})`);
  }
  return options;
}

async function compile(options: CompileOptions): Promise<void> {
  const jobs = compileJobs(options.all);
  if (options.dryRun) {
    for (const job of jobs) console.log(["deno", ...compileArgs(job)].join(" "));
    return;
  }
  const root = fileURLToPath(new URL("..", import.meta.url));
  await Deno.mkdir(`${root}/${DIST_DIR}`, { recursive: true });
  // A failed build must not leave an older SHA256SUMS that a release step could pick up.
  await Deno.remove(`${root}/${DIST_DIR}/${CHECKSUMS_FILE}`).catch(() => {});
  for (const job of jobs) {
    console.error(`compiling ${job.output} for ${job.target}`);
    const args = compileArgs(job);
    const { code } = await new Deno.Command(Deno.execPath(), { args, cwd: root }).spawn().status;
    if (code !== 0) {
      throw new Error(`deno compile for "${job.target}" failed with exit code ${code}`);
    }
  }
  if (options.all) {
    const names = jobs.map((job) => job.output.slice(DIST_DIR.length + 1));
    await writeChecksums(`${root}/${DIST_DIR}`, names);
    console.error(`wrote ${DIST_DIR}/${CHECKSUMS_FILE}`);
  }
}

if (import.meta.main) {
  try {
    await compile(parseOptions(Deno.args));
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
