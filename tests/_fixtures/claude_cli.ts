/**
 * The pinned Claude Code CLI the tests run (`@anthropic-ai/claude-code` from npm), installed
 * once into `.ci/.tools/claude-code` by whichever test needs it first.
 *
 * @module
 */
import { join } from "node:path";

/** The Claude Code version every test runs. */
export const CLAUDE_CODE_VERSION = "2.1.330";

const toolsDir = new URL("../../.ci/.tools/claude-code", import.meta.url).pathname;

/** Where the pinned CLI's `claude` lands. */
export const CLAUDE_BIN = join(toolsDir, "node_modules", ".bin", "claude");

let installing: Promise<{ bin: string } | { error: string }> | undefined;

/** Installs the pinned CLI if it is missing; the reason when it cannot be. */
export function ensureClaudeCli(): Promise<{ bin: string } | { error: string }> {
  installing ??= install();
  return installing;
}

async function install(): Promise<{ bin: string } | { error: string }> {
  if (await Deno.stat(CLAUDE_BIN).catch(() => null)) return { bin: CLAUDE_BIN };
  const npm = Deno.build.os === "windows" ? "npm.cmd" : "npm";
  try {
    const child = new Deno.Command(npm, {
      args: [
        "install",
        "--prefix",
        toolsDir,
        "--no-save",
        "--no-audit",
        "--no-fund",
        `@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}`,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    const output = await child.output();
    clearTimeout(timer);
    if (output.success && await Deno.stat(CLAUDE_BIN).catch(() => null)) return { bin: CLAUDE_BIN };
    const reason = new TextDecoder().decode(output.stderr).trim().split("\n").at(-1) ?? "";
    return { error: reason || `npm exited with ${output.code}` };
  } catch (error) {
    return { error: String(error) };
  }
}
