/**
 * What one doctor check reports, and whether a command line can run: shared by the checks
 * of `claude-peers doctor`. Reads the file system only.
 *
 * @module
 */
import { basename, isAbsolute, join } from "node:path";

/** How a check came out: warnings alone still exit 0. */
export type Outcome = "ok" | "warn" | "fail";

/** One line of the doctor's report, with the fix for a problem. */
export interface Check {
  outcome: Outcome;
  text: string;
  fix?: string;
}

/** Why `command` (with `args`) cannot run, or null when it can. */
export async function missingExecutable(
  command: string,
  args: string[],
  searchPath: string,
): Promise<string | null> {
  const path = isAbsolute(command) ? command : await findOnPath(command, searchPath);
  if (!path) return `"${command}" is not on PATH`;
  const stat = await Deno.stat(path).catch(() => null);
  if (!stat?.isFile) return `"${path}" does not exist`;
  if (Deno.build.os !== "windows" && ((stat.mode ?? 0) & 0o111) === 0) {
    return `"${path}" is not executable`;
  }
  if (/^deno(\.exe)?$/.test(basename(path))) {
    const script = args.find((arg) => arg.endsWith("main.ts"));
    if (script && !await Deno.stat(script).catch(() => null)) return `"${script}" does not exist`;
  }
  return null;
}

async function findOnPath(command: string, searchPath: string): Promise<string | null> {
  const separator = Deno.build.os === "windows" ? ";" : ":";
  for (const dir of searchPath.split(separator)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (await Deno.stat(candidate).catch(() => null)) return candidate;
  }
  return null;
}
