/**
 * The git facts of a working directory read from the repository's own files, as
 * `git rev-parse` finds them, without starting git: two git processes were most of the wait
 * before an MCP server could register (start-up, issue 11). It answers only the layouts it
 * reads exactly (a `.git` directory or `gitdir:` file, loose or packed refs) and says
 * "ask git" (undefined) for everything else: Windows, symlinked or foreign-owned `.git`, bare
 * repositories, `core.worktree`, reftable, a branch name another ref could shadow. It never
 * writes and never runs a process.
 *
 * @module
 */
import type { GitFacts } from "./git.ts";

/** Outside any repository, as git reports it. */
const NO_REPOSITORY: GitFacts = { gitRoot: null, repo: null, branch: null };

/** What `git rev-parse` would say about `cwd`, or undefined where only git can tell. */
export async function readGitFiles(cwd: string): Promise<GitFacts | undefined> {
  if (Deno.build.os === "windows" || !cwd.startsWith("/")) return undefined;
  // Inside a .git directory git answers differently (no top level): leave that to git.
  if (cwd.split("/").includes(".git")) return undefined;
  // git works from the physical directory, symbolic links resolved.
  const found = await findDotGit(await Deno.realPath(cwd));
  if (found === undefined || found === null) return found === null ? NO_REPOSITORY : undefined;
  const { top, gitDir } = found;
  // Each read is a round trip to Deno's file thread pool: they go out together.
  const [headLink, head, commondir, worktreeConfig] = await Promise.all([
    Deno.lstat(`${gitDir}/HEAD`).then((info) => info.isSymlink, () => false),
    readText(`${gitDir}/HEAD`),
    readText(`${gitDir}/commondir`),
    readText(`${gitDir}/config.worktree`),
  ]);
  // No HEAD, or the symbolic-link HEAD of very old repositories: git's to read.
  if (head === null || headLink) return undefined;
  const commonDir = commondir === null ? gitDir : resolvePath(gitDir, commondir.trim());
  const [config, packed, reftable, gitRoot] = await Promise.all([
    readText(`${commonDir}/config`),
    readText(`${commonDir}/packed-refs`),
    exists(`${commonDir}/reftable`),
    Deno.realPath(commonDir).catch(() => commonDir),
  ]);
  // A configured work tree, a bare repository or reftable refs: git knows better.
  const settings = `${config ?? ""}\n${worktreeConfig ?? ""}`;
  const special = /^\s*(worktree\s*=|bare\s*=\s*(true|yes|on|1)\b|refstorage\s*=)/im;
  if (reftable || special.test(settings)) {
    return undefined;
  }
  const branch = await branchOf(head.trim(), { gitDir, commonDir, packed: packed ?? "" });
  return branch === undefined ? undefined : { gitRoot, repo: top, branch };
}

/**
 * The nearest `.git` above `cwd` (and the directory holding it), null when there is none up
 * to the root or the file system's edge (git stops there too), undefined when git must judge.
 */
async function findDotGit(
  cwd: string,
): Promise<{ top: string; gitDir: string } | null | undefined> {
  const uid = Deno.uid();
  const device = (await Deno.stat(cwd)).dev;
  for (let dir = cwd;;) {
    const prefix = dir === "/" ? "" : dir;
    const parent = dir.slice(0, dir.lastIndexOf("/")) || "/";
    const [dotGit, bare, parentDevice] = await Promise.all([
      Deno.lstat(`${prefix}/.git`).catch(() => null),
      exists(`${prefix}/HEAD`),
      dir === "/" ? device : Deno.stat(parent).then((info) => info.dev),
    ]);
    if (dotGit !== null) {
      // Another user's repository is refused by git (safe.directory); a link, git resolves.
      if (dotGit.isSymlink || (uid !== null && dotGit.uid !== uid)) return undefined;
      if (dotGit.isDirectory) return { top: dir, gitDir: `${prefix}/.git` };
      const pointer = (await readText(`${prefix}/.git`))?.match(/^gitdir: (.+?)\s*$/m)?.[1];
      return pointer ? { top: dir, gitDir: resolvePath(dir, pointer) } : undefined;
    }
    // A directory that is itself a repository (bare): git's to judge.
    if (bare) return undefined;
    // git stops at the root and at the edge of the file system it started on.
    if (dir === "/" || parentDevice !== device) return null;
    dir = parent;
  }
}

/**
 * `git rev-parse --abbrev-ref HEAD`: the branch, "HEAD" when detached, null on a branch with
 * no commit yet (git fails there), undefined when another ref might shadow the short name.
 */
async function branchOf(
  head: string,
  refs: { gitDir: string; commonDir: string; packed: string },
): Promise<string | null | undefined> {
  if (/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(head)) return "HEAD";
  const name = head.match(/^ref: refs\/heads\/(.+)$/)?.[1];
  if (name === undefined) return undefined;
  const packed = refs.packed.split("\n");
  const hasRef = async (ref: string) =>
    packed.some((line) => line.endsWith(` ${ref}`)) ||
    (await Promise.all([isFile(`${refs.commonDir}/${ref}`), isFile(`${refs.gitDir}/${ref}`)]))
      .includes(true);
  // In strict mode (core.warnAmbiguousRefs) git shortens a name only when no other rule of
  // ref lookup finds a ref by it.
  const [branch, ...shadows] = await Promise.all([
    `refs/heads/${name}`,
    name,
    `refs/${name}`,
    `refs/tags/${name}`,
    `refs/remotes/${name}`,
    `refs/remotes/${name}/HEAD`,
  ].map(hasRef));
  if (!branch) return null;
  return shadows.includes(true) ? undefined : name;
}

/** `path` against `base` when relative; `..` and `.` segments folded as git does. */
function resolvePath(base: string, path: string): string {
  const parts: string[] = [];
  for (const part of (path.startsWith("/") ? path : `${base}/${path}`).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

async function readText(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.lstat(path)).isFile;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
