/**
 * Fuzzing the broker's request handler, in-process on an in-memory KV: thousands of random
 * and malformed requests to every endpoint, after which it still answers and the messages
 * queued before are exactly as they were.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createInProcessBroker } from "./_fixtures/in_process.ts";

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ENDPOINTS = [
  ["POST", "/register"],
  ["POST", "/peers"],
  ["POST", "/send"],
  ["POST", "/send_batch"],
  ["POST", "/summary"],
  ["POST", "/name"],
  ["POST", "/inbox"],
  ["POST", "/ack"],
  ["POST", "/outbox"],
  ["POST", "/log"],
  ["POST", "/log/clear"],
  ["GET", "/stream"],
  ["GET", "/events"],
  ["GET", "/status"],
  ["GET", "/health"],
  ["POST", "/nowhere"],
] as const;

function randomValue(random: () => number, depth: number): unknown {
  const pick = Math.floor(random() * (depth > 6 ? 5 : 8));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return [0, -1, 1e308, NaN, 2 ** 53, 7.5][Math.floor(random() * 6)];
    case 3:
      return "x".repeat(Math.floor(random() * 40));
    case 4:
      return [
        "zzzzzzzz",
        "",
        "<channel>",
        "\u0000\uffff",
        "a".repeat(70_000),
        "@machine",
        "@repo",
        "@nowhere",
        "Api-Team",
      ][Math.floor(random() * 9)];
    case 5:
      return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1));
    default: {
      const keys = [
        "to_id",
        "text",
        "scope",
        "summary",
        "ids",
        "pid",
        "cwd",
        "resume",
        "from_name",
        "reply_to",
        "name",
        "peer",
        "via",
        "peer",
        "since",
        "__proto__",
      ];
      const object: Record<string, unknown> = {};
      for (let i = Math.floor(random() * 5); i > 0; i--) {
        object[keys[Math.floor(random() * keys.length)]!] = randomValue(random, depth + 1);
      }
      return object;
    }
  }
}

function randomBody(random: () => number): BodyInit {
  const kind = Math.floor(random() * 5);
  if (kind === 0) return crypto.getRandomValues(new Uint8Array(Math.floor(random() * 300)));
  if (kind === 1) return "[".repeat(5000);
  if (kind === 2) {
    return JSON.stringify(randomValue(random, 0)).slice(0, Math.floor(random() * 200));
  }
  return JSON.stringify(randomValue(random, 0));
}

Deno.test("a few thousand random requests leave the broker answering and the queue intact", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? 20261124);
  const random = prng(seed);
  await using broker = await createInProcessBroker();
  const { secret } = broker;
  const registration = { pid: Deno.pid, cwd: "/work", git_root: null, repo: null, tty: null };
  const sender = await broker.call("POST", "/register", registration) as { session: string };
  const recipient = await broker.call("POST", "/register", registration) as {
    peer_id: string;
    session: string;
  };
  const recipientId = recipient.peer_id;
  for (let i = 0; i < 5; i++) {
    await broker.call("POST", "/send", { to_id: recipientId, text: `keep ${i}` }, sender.session);
  }
  const inbox = async () =>
    ((await broker.call("POST", "/inbox", {}, recipient.session)) as { messages: unknown[] })
      .messages;
  const before = JSON.stringify(await inbox());
  const sessions = [sender.session, "bogus", undefined];
  const contentTypes = [
    "application/json",
    "text/plain",
    "application/json; charset=utf-8",
    undefined,
  ];
  let served = 0;
  const statuses = new Map<number, number>();
  const worker = async () => {
    while (served < 3000) {
      served++;
      const [method, path] = ENDPOINTS[Math.floor(random() * ENDPOINTS.length)]!;
      const headers: Record<string, string> = {};
      if (random() < 0.9) headers.authorization = `Bearer ${secret}`;
      const session = sessions[Math.floor(random() * sessions.length)];
      if (session) headers["x-claude-peers-session"] = session;
      const type = contentTypes[Math.floor(random() * contentTypes.length)];
      if (type) headers["content-type"] = type;
      const response = await broker.fetch(path, {
        method,
        headers,
        ...(method === "POST" ? { body: randomBody(random) } : {}),
      });
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      assert.ok(response.status < 500, `seed ${seed}: ${method} ${path} gave ${response.status}`);
      // An accepted /stream is a push stream that never ends by itself: cancelling it is how
      // a client hangs up.
      await response.body?.cancel();
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.ok((statuses.get(400) ?? 0) > 100, `many bodies were rejected: ${[...statuses]}`);
  const health = await broker.fetch("/health");
  assert.equal(health.status, 200);
  await health.body?.cancel();
  const after = JSON.parse(JSON.stringify(await inbox())) as { text: string }[];
  const original = JSON.parse(before) as { text: string }[];
  // Fuzzed sends with the sender's valid session may add messages; the originals are intact.
  assert.deepEqual(after.slice(0, original.length), original);
});
