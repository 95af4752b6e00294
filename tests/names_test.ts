/**
 * Names end to end: real broker, real `claude-peers mcp` servers over stdio, the real CLI.
 * Default names from the repository and branch, a name kept across an MCP server restart in
 * the same Claude Code session, sending and renaming by name from a session and from the CLI.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createTestEnv,
  git,
  runCli,
  spawnMcp,
  startBroker,
  type TestEnv,
  waitFor,
} from "./_helpers.ts";

/** A repository "api" on branch main with a worktree on branch "login-fix". */
async function apiRepository(testEnv: TestEnv): Promise<{ repo: string; worktree: string }> {
  const repo = join(testEnv.dir, "api");
  const worktree = join(testEnv.dir, "api-login");
  await Deno.mkdir(repo);
  await git(repo, "init", "-q", "-b", "main");
  await Deno.writeTextFile(join(repo, "a.txt"), "a");
  await git(repo, "add", ".");
  await git(repo, "commit", "-qm", "first");
  await git(repo, "worktree", "add", "-q", worktree, "-b", "login-fix");
  return { repo, worktree };
}

function nameOf(whoami: string): string {
  const match = whoami.match(/^name: (\S+)$/m);
  if (!match) throw new Error(`whoami gave no name: ${whoami}`);
  return match[1]!;
}

async function listed(testEnv: TestEnv): Promise<{ id: string; name: string; branch: string }[]> {
  const cli = await runCli(testEnv, ["peers", "--json"]);
  assert.equal(cli.code, 0, cli.stderr);
  return JSON.parse(cli.stdout);
}

Deno.test("sessions in one repository get distinct names from the repository and branch", async () => {
  await using testEnv = await createTestEnv();
  const { repo, worktree } = await apiRepository(testEnv);
  await using _broker = await startBroker(testEnv);
  await using first = await spawnMcp(testEnv, { cwd: repo });
  assert.equal(nameOf((await first.call("whoami")).text), "api");
  await using second = await spawnMcp(testEnv, { cwd: worktree });
  assert.equal(nameOf((await second.call("whoami")).text), "api-login-fix");
  await using third = await spawnMcp(testEnv, { cwd: repo });
  assert.equal(nameOf((await third.call("whoami")).text), "api-main");
  await using fourth = await spawnMcp(testEnv, { cwd: repo });
  assert.equal(nameOf((await fourth.call("whoami")).text), "api-2");
  const peers = await listed(testEnv);
  assert.deepEqual(peers.map((peer) => peer.name).sort(), [
    "api",
    "api-2",
    "api-login-fix",
    "api-main",
  ]);
  assert.equal(peers.find((peer) => peer.name === "api-login-fix")?.branch, "login-fix");
  // list_peers shows each by name and id, with its branch.
  const listing = (await first.call("list_peers", { scope: "repo" })).text;
  assert.match(
    listing,
    new RegExp(`^- api-login-fix \\(id: ${await second.id()}, .*branch "login-fix"`, "m"),
  );
  assert.match(listing, /^You are api \(id: [a-z0-9]{8}\)\.$/m);
  // The table a person reads: names, branches, directories, how each hears you.
  const table = await runCli(testEnv, ["peers"]);
  assert.match(table.stdout, /^NAME +ID +BRANCH +DIRECTORY +HEARS YOU +ACTIVE +SUMMARY$/m);
  assert.match(
    table.stdout,
    /^api-login-fix +[a-z0-9]{8} +login-fix +\S*api-login +live \(channel\) +\d+s ago +-$/m,
  );
});

Deno.test("a session keeps its name across an MCP server restart, and loses it once gone", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  const session = { env: { CLAUDE_CODE_SESSION_ID: "session-one" } };
  let first = await spawnMcp(testEnv, session);
  try {
    const set = await first.call("set_summary", { name: "Planner", summary: "planning" });
    assert.equal(set.isError, false, set.text);
    assert.match(set.text, /^Name set: planner$/m);
    const id = await first.id();
    await first.close();
    // The same Claude Code session starts its server again (a restart, or claude --resume).
    first = await spawnMcp(testEnv, session);
    const whoami = (await first.call("whoami")).text;
    assert.equal(nameOf(whoami), "planner");
    assert.equal(await first.id(), id);
    await using other = await spawnMcp(testEnv);
    const taken = await other.call("set_summary", { name: "planner" });
    assert.equal(taken.isError, true);
    assert.match(
      taken.text,
      /^Name "planner" is taken by peer [a-z0-9]{8}\. Pick another name; list_peers shows/,
    );
    // Once the session is gone, its name is free for another.
    await first.close();
    await waitFor(
      async () => !(await listed(testEnv)).some((peer) => peer.id === id),
      5_000,
      "the first session to leave",
    );
    const free = await other.call("set_summary", { name: "planner" });
    assert.equal(free.isError, false, free.text);
  } finally {
    await first.close();
  }
});

Deno.test("sessions and the CLI send and rename by name", async () => {
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  await using alice = await spawnMcp(testEnv, { cwd: testEnv.dir });
  const bobDir = join(testEnv.dir, "bob-dir");
  await Deno.mkdir(bobDir);
  await using bob = await spawnMcp(testEnv, { cwd: bobDir });
  const bobId = await bob.id();
  const aliceName = nameOf((await alice.call("whoami")).text);
  assert.equal(nameOf((await bob.call("whoami")).text), "bob-dir");
  const sent = await alice.call("send_message", { to_id: "bob-dir", message: "by name" });
  assert.equal(sent.isError, false, sent.text);
  assert.match(sent.text, new RegExp(`^Sent message \\S+ to bob-dir \\(${bobId}\\)`));
  await waitFor(() => bob.channel.length === 1, 5_000, "bob's message");
  assert.equal(bob.channel[0]!.meta.from_name, aliceName);
  // A person renames bob, then sends to the new name.
  const renamed = await runCli(testEnv, ["name", "bob-dir", "builder"]);
  assert.equal(renamed.code, 0, renamed.stderr);
  assert.equal(renamed.stdout, `Peer ${bobId} is now named builder (was bob-dir)\n`);
  assert.equal(nameOf((await bob.call("whoami")).text), "builder");
  const cli = await runCli(testEnv, ["send", "--from", "ci-bot", "builder", "from", "the", "cli"]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`^Sent message \\S+ to builder \\(${bobId}, `));
  await waitFor(() => bob.channel.length === 2, 5_000, "the CLI's message");
  assert.equal(bob.channel[1]!.content, "from the cli");
  assert.equal(bob.channel[1]!.meta.from_name, "ci-bot");
  // The CLI broadcasts to every session on the machine (it has no repository of its own).
  const everyone = await runCli(testEnv, ["send", "@machine", "all hands"]);
  assert.equal(everyone.code, 0, everyone.stderr);
  assert.match(everyone.stdout, /^Broadcast to @machine: 2 sessions$/m);
  await waitFor(
    () => alice.channel.length === 1 && bob.channel.length === 3,
    5_000,
    "the CLI's broadcast",
  );
  for (const peer of [alice, bob]) {
    assert.equal(peer.channel.at(-1)!.meta.broadcast, "@machine");
    assert.equal(peer.channel.at(-1)!.content, "all hands");
  }
  // The old name is nobody's now; a taken name and a bad one are refused with advice.
  const old = await runCli(testEnv, ["send", "bob-dir", "hello"]);
  assert.equal(old.code, 1);
  assert.match(old.stderr, /No live peer is named "bob-dir"/);
  const taken = await runCli(testEnv, ["name", bobId, aliceName]);
  assert.equal(taken.code, 1);
  assert.match(
    taken.stderr,
    /is taken by peer [a-z0-9]{8} \(pick another name; "claude-peers peers" shows the names in use\)/,
  );
  const bad = await runCli(testEnv, ["name", bobId, "k3x9ab12"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /"k3x9ab12" is not a valid name: a name cannot look like a peer id/);
});
