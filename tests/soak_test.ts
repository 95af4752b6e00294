/**
 * Soak: 20 peers exchange 5,000 messages while the broker is killed with SIGKILL twice and
 * auto-started again by the peers. Every message is presented exactly once, in per-sender order.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createTestEnv, ON_WINDOWS, posixTestName, spawnAll, waitFor } from "./_helpers.ts";

const PEERS = 20;
const MESSAGES = 5_000;

Deno.test({
  name: posixTestName(
    "5,000 messages among 20 peers across two broker kills are each presented once, in order",
  ),
  ignore: ON_WINDOWS,
  async fn() {
    await using testEnv = await createTestEnv();
    await using peers = await spawnAll(testEnv, PEERS, { batch: 5 });
    const ids = await Promise.all(peers.map((peer) => peer.id()));
    const perSender = MESSAGES / PEERS;
    let sent = 0;
    const killAt = [Math.floor(MESSAGES / 3), Math.floor((2 * MESSAGES) / 3)];
    const brokerPids: number[] = [(await testEnv.client().status()).pid];
    const killer = (async () => {
      for (const threshold of killAt) {
        await waitFor(() => sent >= threshold, 120_000, `${threshold} messages sent`);
        const { pid } = await testEnv.client().status();
        Deno.kill(pid, "SIGKILL");
        await waitFor(
          async () => {
            try {
              const status = await testEnv.client().status();
              if (status.pid === pid) return false;
              brokerPids.push(status.pid);
              return true;
            } catch {
              return false;
            }
          },
          30_000,
          "a new broker",
        );
      }
    })();
    // Each peer keeps two calls in flight, so batched sends are retried across the kills too;
    // its messages are numbered in the order it issued the calls.
    const senders = peers.map(async (peer, from) => {
      let next = 0;
      const lane = async () => {
        while (next < perSender) {
          const seq = next++;
          const to = (from + 1 + (seq % (PEERS - 1))) % PEERS;
          const result = await peer.call("send_message", {
            to_id: ids[to],
            message: `soak ${from} ${seq}`,
          });
          assert.equal(result.isError, false, result.text);
          sent++;
        }
      };
      await Promise.all([lane(), lane()]);
    });
    await Promise.all([...senders, killer]);
    assert.equal(new Set(brokerPids).size, 3, "the broker was killed twice and came back twice");
    const received = () => peers.reduce((total, peer) => total + peer.channel.length, 0);
    await waitFor(() => received() >= MESSAGES, 60_000, `all ${MESSAGES} messages presented`);
    // A moment for any duplicate to show up before counting.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(received(), MESSAGES, "no message was presented twice");
    for (const [index, peer] of peers.entries()) {
      const lastSeq = new Map<number, number>();
      for (const notification of peer.channel) {
        const [, from, seq] = notification.content.split(" ").map(Number) as [
          number,
          number,
          number,
        ];
        assert.equal(notification.meta.from_id, ids[from], "the broker stamped the real sender");
        assert.ok(
          (lastSeq.get(from) ?? -1) < seq,
          `peer ${index}: ${from}'s messages out of order`,
        );
        lastSeq.set(from, seq);
      }
    }
  },
});
