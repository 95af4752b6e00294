/**
 * The git facts read from the repository's files (broker/git_files.ts) against what git itself
 * says, in the layouts a session meets: no repository, a repository and its subdirectories, a
 * branch with no commit yet, a detached HEAD, packed refs, a linked worktree, a path through a
 * symbolic link. Where the files cannot tell (a tag shadowing the branch name), readGitFacts
 * asks git.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { askGit, readGitFacts } from "../broker/git.ts";
import { readGitFiles } from "../broker/git_files.ts";
import { git, posixTestName } from "./_helpers.ts";

const ON_WINDOWS = Deno.build.os === "windows";

/** A temp directory, removed on disposal. */
async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.realPath(await Deno.makeTempDir({ prefix: "claude-peers-git-" }));
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** The files give exactly git's answer for `dir`, and readGitFacts gives it too. */
async function assertReadLikeGit(dir: string, what: string): Promise<void> {
  const fromGit = await askGit(dir);
  const fromFiles = await readGitFiles(dir);
  assert.notEqual(fromFiles, undefined, `${what}: the files should tell`);
  assert.deepEqual(fromFiles, fromGit, what);
  assert.deepEqual(await readGitFacts(dir), fromGit, what);
}

Deno.test({
  name: posixTestName("the files tell what git tells in the usual layouts", "reads POSIX paths"),
  ignore: ON_WINDOWS,
  async fn() {
    await using temp = await tempDir();
    const outside = join(temp.path, "outside");
    await Deno.mkdir(outside);
    await assertReadLikeGit(outside, "no repository");
    assert.deepEqual(await readGitFiles(outside), { gitRoot: null, repo: null, branch: null });

    const repo = join(temp.path, "repo");
    await Deno.mkdir(join(repo, "src", "deep"), { recursive: true });
    await git(repo, "init", "-q", "-b", "main");
    await assertReadLikeGit(repo, "a branch with no commit yet");
    assert.equal((await readGitFiles(repo))?.branch, null);

    await Deno.writeTextFile(join(repo, "src", "a.txt"), "a");
    await git(repo, "add", ".");
    await git(repo, "commit", "-q", "-m", "one");
    await assertReadLikeGit(repo, "the top level");
    await assertReadLikeGit(join(repo, "src", "deep"), "a subdirectory");
    assert.equal((await readGitFiles(repo))?.branch, "main");

    await git(repo, "checkout", "-q", "-b", "feature/slash");
    await assertReadLikeGit(repo, "a branch name with a slash");

    await git(repo, "pack-refs", "--all");
    await assertReadLikeGit(join(repo, "src"), "packed refs");

    await git(repo, "checkout", "-q", "--detach");
    await assertReadLikeGit(repo, "a detached HEAD");
    assert.equal((await readGitFiles(repo))?.branch, "HEAD");

    const worktree = join(temp.path, "worktree");
    await git(repo, "worktree", "add", "-q", "-b", "side", worktree);
    await assertReadLikeGit(worktree, "a linked worktree");
    assert.equal((await readGitFiles(worktree))?.gitRoot, join(repo, ".git"));
    assert.equal((await readGitFiles(worktree))?.repo, worktree);

    const link = join(temp.path, "link");
    await Deno.symlink(join(repo, "src"), link);
    await assertReadLikeGit(link, "a path through a symbolic link");
  },
});

Deno.test({
  name: posixTestName(
    "where another ref shadows the branch name, git is asked",
    "reads POSIX paths",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using temp = await tempDir();
    await git(temp.path, "init", "-q", "-b", "main");
    await git(temp.path, "commit", "-q", "--allow-empty", "-m", "one");
    await git(temp.path, "tag", "main");
    assert.equal(await readGitFiles(temp.path), undefined, "a tag named like the branch");
    const facts = await readGitFacts(temp.path);
    assert.deepEqual(facts, await askGit(temp.path));
    assert.equal(facts.branch, "heads/main", "git's own answer");

    // Inside the .git directory git has no top level: it is asked.
    assert.equal(await readGitFiles(join(temp.path, ".git")), undefined);
    assert.deepEqual(
      await readGitFacts(join(temp.path, ".git")),
      await askGit(join(temp.path, ".git")),
    );
  },
});

Deno.test({
  name: posixTestName(
    "a configured work tree or a bare repository is left to git",
    "reads POSIX paths",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using temp = await tempDir();
    const bare = join(temp.path, "bare.git");
    await git(temp.path, "init", "-q", "--bare", bare);
    assert.equal(await readGitFiles(bare), undefined, "a bare repository");
    assert.deepEqual(await readGitFacts(bare), await askGit(bare));

    const repo = join(temp.path, "repo");
    await Deno.mkdir(repo);
    await git(repo, "init", "-q", "-b", "main");
    await git(repo, "config", "core.worktree", temp.path);
    assert.equal(await readGitFiles(repo), undefined, "core.worktree");
  },
});
