/**
 * A peer that stops reading its stream costs the broker no memory beyond a bounded buffer:
 * the broker reads its inbox only while the stream drains. Real broker, real MCP servers
 * suspended with SIGSTOP (a Ctrl-Z'd session), broker memory read from /proc.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { BrokerClient } from "../broker/client.ts";
import {
  createTestEnv,
  type McpPeer,
  ON_WINDOWS,
  posixTestName,
  spawnAll,
  spawnMcp,
  startBroker,
  waitFor,
} from "./_helpers.ts";
import { residentMb, sampleResident } from "./_fixtures/memory.ts";

const PEERS = 3;
const MESSAGES_PER_PEER = 500;
/** 32,000 control characters: each JSON-escapes to `\u0001`, ~192 KB on the stream. */
const TEXT = "\u0001".repeat(32_000);
const MARGIN_MB = 40;
const SENDS_IN_FLIGHT = 6;
const DELIVERY_TIMEOUT_MS = 240_000;

/** Sends MESSAGES_PER_PEER messages to each peer, a few at a time; the ids per peer. */
async function sendToEach(sender: BrokerClient, ids: string[]): Promise<Map<string, string[]>> {
  const sent = new Map(ids.map((id) => [id, [] as string[]]));
  const work = ids.flatMap((id) => Array.from({ length: MESSAGES_PER_PEER }, () => id));
  await Promise.all(Array.from({ length: SENDS_IN_FLIGHT }, async () => {
    for (let to = work.shift(); to !== undefined; to = work.shift()) {
      const { message_id } = await sender.send({ to_id: to, text: TEXT });
      sent.get(to)!.push(message_id);
    }
  }));
  return sent;
}

/** Waits until `peer` has shown exactly `expected` (each once) as channel notifications. */
async function assertDeliveredOnce(peer: McpPeer, expected: string[]): Promise<void> {
  await waitFor(
    () => peer.channel.length >= expected.length,
    DELIVERY_TIMEOUT_MS,
    `${expected.length} messages at peer ${await peer.id()} (${peer.channel.length} so far)`,
  );
  const shown = peer.channel.map((notification) => String(notification.meta.message_id));
  assert.equal(new Set(shown).size, shown.length, "no message was shown twice");
  assert.deepEqual(new Set(shown), new Set(expected), "every message sent was shown");
  assert.ok(peer.channel.every((notification) => notification.content.length > 0));
}

function signal(peer: McpPeer, name: Deno.Signal): void {
  Deno.kill(peer.pid(), name);
}

Deno.test({
  name: posixTestName(
    "suspended peers that never read cost the broker no more memory than peers that read, and lose nothing",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    // The same traffic to peers that read, on a broker of its own: the level to compare with.
    let readingPeak: number;
    {
      await using readingEnv = await createTestEnv();
      await using readingBroker = await startBroker(readingEnv);
      await using readers = await spawnAll(readingEnv, PEERS);
      const ids = await Promise.all(readers.map((peer) => peer.id()));
      const sampler = sampleResident(readingBroker.process.pid);
      const sent = await sendToEach(readingEnv.client(), ids);
      for (const [index, peer] of readers.entries()) {
        await assertDeliveredOnce(peer, sent.get(ids[index]!)!);
      }
      readingPeak = await sampler.stop();
    }

    await using testEnv = await createTestEnv();
    await using broker = await startBroker(testEnv);
    const pid = broker.process.pid;
    const sender = testEnv.client();
    // Three sessions suspended (Ctrl-Z) with their streams open: they read nothing.
    const sessions = Array.from({ length: PEERS }, () => crypto.randomUUID());
    const suspended = await Promise.all(
      sessions.map((session) => spawnMcp(testEnv, { env: { CLAUDE_CODE_SESSION_ID: session } })),
    );
    const reconnected: McpPeer[] = [];
    try {
      const ids = await Promise.all(suspended.map((peer) => peer.id()));
      for (const peer of suspended) signal(peer, "SIGSTOP");
      const sampler = sampleResident(pid);
      const sent = await sendToEach(sender, ids);
      // Long enough for a broker that reads every inbox whole to have done so.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const suspendedPeak = await sampler.stop();
      assert.ok(
        suspendedPeak <= readingPeak + MARGIN_MB,
        `broker RSS peaked at ${suspendedPeak.toFixed(0)} MB with suspended peers, ${
          readingPeak.toFixed(0)
        } MB with reading ones`,
      );

      // One resumes and reads everything; two die suspended and come back as new processes of
      // the same Claude Code sessions.
      const [resumed, ...killed] = suspended as [McpPeer, McpPeer, McpPeer];
      for (const peer of killed) signal(peer, "SIGKILL");
      await Promise.all(killed.map((peer) => peer.close().catch(() => {})));
      signal(resumed, "SIGCONT");
      await assertDeliveredOnce(resumed, sent.get(ids[0]!)!);
      await resumed.close();
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      const afterClose = await residentMb(pid);
      assert.ok(
        afterClose <= readingPeak + MARGIN_MB,
        `broker RSS was ${afterClose.toFixed(0)} MB 10 s after the suspended peers closed, ${
          readingPeak.toFixed(0)
        } MB at most with reading ones`,
      );

      for (const index of [1, 2]) {
        const again = await spawnMcp(testEnv, {
          env: { CLAUDE_CODE_SESSION_ID: sessions[index]! },
        });
        reconnected.push(again);
        assert.equal(await again.id(), ids[index], "the session kept its peer id");
        await assertDeliveredOnce(again, sent.get(ids[index]!)!);
      }
    } finally {
      for (const peer of suspended) {
        try {
          signal(peer, "SIGCONT");
        } catch { /* exited */ }
      }
      await Promise.allSettled([...suspended, ...reconnected].map((peer) => peer.close()));
    }
  },
});
