/**
 * The push stream and the inbox's watch: a stream that has read its inbox to the end takes
 * the messages each commit just wrote from the watch, without reading the inbox back; one that
 * fell behind by more than a watch holds reads the rest from the inbox. Either way each message
 * arrives once, in id order. On an in-memory KV whose list reads are counted, with the real
 * mailbox and stream.
 *
 * @module
 */
import assert from "node:assert/strict";
import { PeerRegistry } from "../broker/peers.ts";
import { Mailbox, type Sender } from "../broker/mailbox.ts";
import { openInboxStream } from "../broker/inbox.ts";
import { InboxWatch, WATCH_HELD_MESSAGES } from "../broker/inbox_signals.ts";
import type { Message } from "../broker/protocol.ts";
import { waitFor } from "./_helpers.ts";

interface Setup extends Disposable {
  mailbox: Mailbox;
  recipient: string;
  /** How many inbox reads (kv.list) the mailbox made. */
  lists: () => number;
}

async function setUp(): Promise<Setup> {
  const kv = await Deno.openKv(":memory:");
  let lists = 0;
  const counted = new Proxy(kv, {
    get(target, name) {
      if (name === "list") {
        return (...args: Parameters<Deno.Kv["list"]>) => {
          lists++;
          return target.list(...args);
        };
      }
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const options = { leaseMs: 60_000, retentionMs: 60_000, maxQueued: 1000, maxPeers: 10 };
  const registry = new PeerRegistry(counted, options);
  const mailbox = new Mailbox(counted, {
    ...options,
    isLive: async (id, now) => await registry.getPeer(id, now) !== null,
    endedAt: (id, now) => registry.endedAt(id, now),
  });
  const fields = { pid: 1, cwd: "/w", git_root: null, repo: null, branch: null, tty: null };
  const { peer } = await registry.register({ ...fields, summary: "", channel: true }, Date.now());
  return { mailbox, recipient: peer.id, lists: () => lists, [Symbol.dispose]: () => kv.close() };
}

const sender: Sender = { id: "s", name: "s", kind: "cli", summary: "", cwd: "" };

/** Opens the stream of `recipient` and collects the texts of the messages it sends. */
function readStream(mailbox: Mailbox, recipient: string) {
  const stream = openInboxStream(mailbox, recipient, { onClose: () => {} });
  const texts: string[] = [];
  const ids: string[] = [];
  const reading = (async () => {
    let buffered = "";
    for await (const chunk of stream.body.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        const event = JSON.parse(line);
        if (event.type !== "message") continue;
        texts.push(event.message.text);
        ids.push(event.message.id);
      }
    }
  })();
  return {
    texts,
    ids,
    async [Symbol.asyncDispose]() {
      stream.close();
      await reading.catch(() => {});
    },
  };
}

Deno.test("a caught-up push stream gets each commit's messages from the watch, once and in order, nearly all without reading the inbox", async () => {
  using setup = await setUp();
  const { mailbox, recipient } = setup;
  await mailbox.enqueue(sender, recipient, "queued before", Date.now());
  await using stream = readStream(mailbox, recipient);
  await waitFor(() => stream.texts.length === 1, 5_000, "the queued message");
  const listsAfterBacklog = setup.lists();
  for (let i = 0; i < 30; i++) {
    await mailbox.enqueue(sender, recipient, `m${i}`, Date.now());
    await waitFor(() => stream.texts.length === i + 2, 5_000, `message ${i}`);
  }
  assert.deepEqual(stream.texts, [
    "queued before",
    ...Array.from({ length: 30 }, (_, i) => `m${i}`),
  ]);
  // kv.watch may report a commit before the commit's own promise hands its messages over; the
  // watch waits a few ms for them, then the stream reads the inbox. A hand-over that never
  // worked would read once per message.
  const reads = setup.lists() - listsAfterBacklog;
  assert.ok(reads <= 3, `${reads} inbox reads for 30 messages handed over`);
});

Deno.test("a push stream that falls behind by more than a watch holds reads the rest, each once, in order", async () => {
  using setup = await setUp();
  const { mailbox, recipient } = setup;
  await using stream = readStream(mailbox, recipient);
  await waitFor(() => setup.lists() === 1, 5_000, "the first inbox read");
  const count = 5 * WATCH_HELD_MESSAGES;
  // Sent at once: all but the first go into one commit, more than a watch holds.
  await Promise.all(
    Array.from(
      { length: count },
      (_, i) => mailbox.enqueue(sender, recipient, `m${i}`, Date.now()),
    ),
  );
  await waitFor(() => stream.texts.length >= count, 5_000, "every message");
  // Nothing more arrives late.
  await mailbox.enqueue(sender, recipient, "last", Date.now());
  await waitFor(() => stream.texts.includes("last"), 5_000, "the last message");
  assert.deepEqual(stream.texts, [...Array.from({ length: count }, (_, i) => `m${i}`), "last"]);
  assert.deepEqual(stream.ids, [...stream.ids].sort(), "in id order");
  assert.ok(setup.lists() > 1, "the inbox was read again");
});

const handed = (id: string) => ({ id }) as unknown as Message;

Deno.test("a watch that kv.watch woke before the commit handed its messages over waits for them; one that never gets them says read the inbox", async () => {
  const watch = new InboxWatch(() => {});
  watch.wake("00000000000000010000");
  assert.equal(await watch.next(), true);
  assert.equal(watch.take(), null, "the first take always reads");

  watch.wake("00000000000000020000");
  const woken = watch.next();
  watch.hold([handed("a")], "00000000000000020000");
  assert.equal(await woken, true);
  assert.deepEqual(watch.take()?.map((message) => message.id), ["a"]);

  watch.wake("00000000000000030000");
  assert.equal(await watch.next(), true);
  assert.equal(watch.take(), null, "a commit seen and not handed over: read the inbox");
  watch.hold([handed("b")], "00000000000000030000");
  watch.wake("00000000000000040000");
  watch.hold([handed("c")], "00000000000000040000");
  assert.equal(await watch.next(), true);
  assert.deepEqual(watch.take()?.map((message) => message.id), ["b", "c"], "late ones kept too");
  watch.cancel();
  assert.equal(await watch.next(), false);
});
