/**
 * Git facts about a working directory: the repository it belongs to, its top level and its
 * branch. Shared by the MCP server (what a session reports) and the CLI (`doctor`); the
 * broker server never imports it, and it never talks to the broker.
 *
 * @module
 */
import { readGitFiles } from "./git_files.ts";

/** Where a working directory sits in git; every field is null outside a repository. */
export interface GitFacts {
  /** Absolute `git rev-parse --git-common-dir`: the same for every worktree of one repo. */
  gitRoot: string | null;
  /** The working tree's top level directory, for display. */
  repo: string | null;
  branch: string | null;
}

/** Options for {@link readGitFacts}. */
export interface ReadGitFactsOptions {
  /**
   * Read the repository's files where they tell exactly what git would say, and run git only
   * where they do not; false runs git (a variable such as GIT_DIR moves the repository).
   * @default true
   */
  readFiles?: boolean;
}

/** Reads the git facts of `cwd`; all null when git is missing or `cwd` is not in a repo. */
export async function readGitFacts(
  cwd: string,
  options: ReadGitFactsOptions = {},
): Promise<GitFacts> {
  if (options.readFiles ?? true) {
    const fromFiles = await readGitFiles(cwd).catch(() => undefined);
    if (fromFiles !== undefined) return fromFiles;
  }
  return await askGit(cwd);
}

/** The git facts of `cwd` as git itself reports them (two `git rev-parse` runs). */
export async function askGit(cwd: string): Promise<GitFacts> {
  const [paths, branch] = await Promise.all([
    git(cwd, ["rev-parse", "--path-format=absolute", "--git-common-dir", "--show-toplevel"]),
    git(cwd, ["rev-parse", "--abbrev-ref", "HEAD"]),
  ]);
  const [commonDir, topLevel] = paths?.split("\n") ?? [];
  return {
    gitRoot: commonDir ? await Deno.realPath(commonDir).catch(() => commonDir) : null,
    repo: topLevel || null,
    branch: branch || null,
  };
}

/** Runs git in `cwd`; null when git is missing or `cwd` is not in a repository. */
export async function git(cwd: string, args: string[]): Promise<string | null> {
  try {
    const output = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "null" })
      .output();
    return output.success ? new TextDecoder().decode(output.stdout).trim() : null;
  } catch {
    return null;
  }
}
