/**
 * Listing scopes: machine, directory and repo (worktrees of one repository are one repo),
 * with the caller never listed, and whoami / set_summary as others see them.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createTestEnv, git, runCli, spawnMcp, startBroker } from "./_helpers.ts";

Deno.test("list_peers scopes: machine, directory and repo with worktrees as one repository", async () => {
  await using testEnv = await createTestEnv();
  const repo = join(testEnv.dir, "repo");
  const worktree = join(testEnv.dir, "repo-feature");
  const elsewhere = join(testEnv.dir, "elsewhere");
  await Deno.mkdir(repo);
  await Deno.mkdir(elsewhere);
  await git(repo, "init", "-q");
  await Deno.writeTextFile(join(repo, "a.txt"), "a");
  await git(repo, "add", ".");
  await git(repo, "commit", "-qm", "first");
  await git(repo, "worktree", "add", "-q", worktree, "-b", "feature");
  await using _broker = await startBroker(testEnv);
  await using inRepo = await spawnMcp(testEnv, { cwd: repo });
  await using sameDir = await spawnMcp(testEnv, { cwd: repo });
  await using inWorktree = await spawnMcp(testEnv, { cwd: worktree });
  await using outside = await spawnMcp(testEnv, { cwd: elsewhere });
  const [repoId, sameDirId, worktreeId, outsideId] = await Promise.all(
    [inRepo, sameDir, inWorktree, outside].map((peer) => peer.id()),
  );
  const ids = (text: string) =>
    [...text.matchAll(/^- \S+ \(id: ([a-z0-9]{8})/gm)].map((m) => m[1]).sort();
  const machine = await inRepo.call("list_peers", { scope: "machine" });
  assert.deepEqual(ids(machine.text), [sameDirId, worktreeId, outsideId].sort());
  const directory = await inRepo.call("list_peers", { scope: "directory" });
  assert.deepEqual(ids(directory.text), [sameDirId]);
  const repoScope = await inRepo.call("list_peers", { scope: "repo" });
  assert.deepEqual(ids(repoScope.text), [sameDirId, worktreeId].sort());
  const fromWorktree = await inWorktree.call("list_peers", { scope: "repo" });
  assert.deepEqual(ids(fromWorktree.text), [repoId, sameDirId].sort());
  const lonely = await outside.call("list_peers", { scope: "repo" });
  assert.match(
    lonely.text,
    /^No other peers \(scope: repo\)\.\nYou are \S+ \(id: [a-z0-9]{8}\)\.$/,
  );
  assert.equal(ids((await outside.call("list_peers", { scope: "directory" })).text).length, 0);
});

Deno.test("whoami tells a session its id and set_summary shows in other peers' listings", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  await using alice = await spawnMcp(testEnv);
  await using bob = await spawnMcp(testEnv);
  const aliceId = await alice.id();
  const whoami = await alice.call("whoami");
  assert.match(whoami.text, /^id: [a-z0-9]{8}$/m);
  assert.match(whoami.text, new RegExp(`^pid: ${alice.pid()}$`, "m"));
  assert.match(whoami.text, new RegExp(`^cwd: ${testEnv.dir}$`, "m"));
  assert.match(whoami.text, /^summary: \(none: call set_summary\)$/m);
  const set = await alice.call("set_summary", { summary: "writing the scope tests" });
  assert.equal(set.isError, false);
  assert.match((await alice.call("whoami")).text, /^summary: writing the scope tests$/m);
  assert.match(
    (await bob.call("list_peers", { scope: "machine" })).text,
    /summary: writing the scope tests/,
  );
  const cli = await runCli(testEnv, ["peers", "--json"]);
  assert.equal(cli.code, 0, cli.stderr);
  const listed = JSON.parse(cli.stdout) as { id: string; summary: string }[];
  assert.equal(listed.find((peer) => peer.id === aliceId)?.summary, "writing the scope tests");
  const tooLong = await alice.call("set_summary", { summary: "x".repeat(501) });
  assert.equal(tooLong.isError, true);
});
