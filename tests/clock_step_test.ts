/**
 * The wall clock steps back an hour across a broker SIGKILL: the next broker runs under
 * libfaketime (`FAKETIME=-1h`, Debian's faketime package; ignored with the reason where it is
 * missing). Deno's `Date.now()` follows libfaketime (it reads clock_gettime, which
 * libfaketime intercepts): the test checks that on the broker's own stamps. Every message id
 * issued after the restart sorts after every id issued before it, and messages arrive in the
 * order they were sent, pushed or read from a queue that spans the restart.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createTestEnv, spawnMcp, startBroker, waitFor } from "./_helpers.ts";

const COUNT = 15;

/** Where Debian's libfaketime package puts the library. */
const LIBFAKETIME = [
  `/usr/lib/${Deno.build.arch}-linux-gnu/faketime/libfaketime.so.1`,
  "/usr/lib/faketime/libfaketime.so.1",
  "/usr/local/lib/faketime/libfaketime.so.1",
].find((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
});

/**
 * The broker's clock an hour back. Preloaded into the broker itself rather than through the
 * `faketime` command, which forks and does not pass signals on to the program it runs.
 */
const STEPPED_BACK = { LD_PRELOAD: LIBFAKETIME ?? "", FAKETIME: "-1h" };

const skip = Deno.build.os !== "linux"
  ? "libfaketime is tested on Linux"
  : LIBFAKETIME
  ? null
  : 'libfaketime is not installed ("apt-get install faketime")';

/** The message ids in the order the envelope shows them. */
function envelopeIds(text: string): string[] {
  return [...text.matchAll(/<peer_message id="([^"]+)"/g)].map((match) => match[1]!);
}

Deno.test({
  name: `ids issued after a broker restart with the clock an hour back sort after the earlier ones${
    skip ? ` [ignored: ${skip}]` : ""
  }`,
  ignore: skip !== null,
  async fn() {
    await using testEnv = await createTestEnv();
    const broker = await startBroker(testEnv);
    await using alice = await spawnMcp(testEnv);
    await using bob = await spawnMcp(testEnv);
    await using carol = await spawnMcp(testEnv, { env: { CLAUDE_PEERS_CHANNEL: "off" } });
    const [bobId, carolId] = await Promise.all([bob.id(), carol.id()]);
    const send = async (to: string, text: string) => {
      const sent = await alice.call("send_message", { to_id: to, message: text });
      assert.equal(sent.isError, false, sent.text);
    };
    for (let i = 0; i < COUNT; i++) {
      await send(bobId, `before ${i}`);
      await send(carolId, `before ${i}`);
    }
    await waitFor(() => bob.channel.length === COUNT, 10_000, "bob's first messages");

    // The servers must reconnect to the broker under faketime, not start one of their own: a
    // fresh spawn lock says a start is under way (what a starter that got there first leaves).
    const lock = join(`${testEnv.dbPath}.d`, "spawn.lock");
    await Deno.writeTextFile(lock, String(Deno.pid));
    await broker.kill("SIGKILL");
    await using _stepped = await startBroker(testEnv, { env: STEPPED_BACK });
    await Deno.remove(lock);
    for (let i = 0; i < COUNT; i++) {
      await send(bobId, `after ${i}`);
      await send(carolId, `after ${i}`);
    }
    await waitFor(() => bob.channel.length === 2 * COUNT, 10_000, "bob's later messages");

    const expected = [
      ...Array.from({ length: COUNT }, (_, i) => `before ${i}`),
      ...Array.from({ length: COUNT }, (_, i) => `after ${i}`),
    ];
    // Pushed as they came: in send order, ids rising across the restart.
    assert.deepEqual(bob.channel.map((n) => n.content), expected);
    const ids = bob.channel.map((n) => String(n.meta.message_id));
    assert.deepEqual(ids, [...ids].sort(), "ids sort in send order");
    assert.equal(new Set(ids).size, ids.length);
    // The second broker's clock really was an hour back: it stamps sent_at with Date.now().
    const sentAt = bob.channel.map((n) => Date.parse(String(n.meta.sent_at)));
    const stepped = sentAt[COUNT - 1]! - sentAt[COUNT]!;
    assert.ok(stepped > 50 * 60_000, `the clock stepped back ${Math.round(stepped / 1000)} s`);

    // Queued across the restart and read at once: the inbox is read in id order.
    const read = await carol.call("check_messages");
    const shown = [...read.text.matchAll(/^(before|after) \d+$/gm)].map((match) => match[0]);
    assert.deepEqual(shown, expected);
    const queuedIds = envelopeIds(read.text);
    assert.equal(queuedIds.length, 2 * COUNT);
    assert.deepEqual(queuedIds, [...queuedIds].sort());
  },
});
