/**
 * The auto-summary against a small OpenAI-compatible server on loopback.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createTestEnv, spawnMcp, startBroker, waitFor } from "./_helpers.ts";

interface FakeOpenAi extends AsyncDisposable {
  url: string;
  requests: { model: string; messages: { role: string; content: string }[] }[];
}

function startFakeOpenAi(status: number): FakeOpenAi {
  const requests: FakeOpenAi["requests"] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      if (
        request.method !== "POST" || !new URL(request.url).pathname.endsWith("/chat/completions")
      ) {
        return new Response("not found", { status: 404 });
      }
      requests.push(await request.json());
      if (status !== 200) {
        return Response.json({ error: { message: "model overloaded" } }, {
          status,
        });
      }
      return Response.json({
        id: "chatcmpl-test",
        object: "chat.completion",
        created: 0,
        model: requests.at(-1)!.model,
        choices: [{
          index: 0,
          finish_reason: "stop",
          message: { role: "assistant", content: "Tuning the flux capacitor tests." },
        }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/v1`,
    requests,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("with an API key the session summarises itself from its directory and files", async () => {
  await using fake = startFakeOpenAi(200);
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  await using observer = await spawnMcp(testEnv);
  await using summarised = await spawnMcp(testEnv, {
    env: { OPENAI_API_KEY: "test-key", OPENAI_BASE_URL: fake.url },
  });
  await using _custom = await spawnMcp(testEnv, {
    env: {
      OPENAI_API_KEY: "test-key",
      OPENAI_BASE_URL: fake.url,
      CLAUDE_PEERS_SUMMARY_MODEL: "tiny-model",
    },
  });
  const id = await summarised.id();
  await waitFor(
    async () => {
      const listed = await observer.call("list_peers", { scope: "machine" });
      return listed.text.includes(`id: ${id}`) &&
        listed.text.includes("Tuning the flux capacitor tests.");
    },
    15_000,
    "the auto-summary to show up",
  );
  await waitFor(() => fake.requests.length === 2, 15_000, "both summary requests");
  const models = fake.requests.map((request) => request.model).sort();
  assert.deepEqual(models, ["gpt-4o-mini", "tiny-model"]);
  assert.ok(fake.requests.every((r) => r.messages.some((m) => m.content.includes(testEnv.dir))));
});

Deno.test("a failing summary service is logged with its reason and the server keeps working", async () => {
  await using fake = startFakeOpenAi(500);
  await using testEnv = await createTestEnv();
  await using _broker = await startBroker(testEnv);
  await using peer = await spawnMcp(testEnv, {
    env: { OPENAI_API_KEY: "test-key", OPENAI_BASE_URL: fake.url },
  });
  await waitFor(
    () => peer.stderr().includes("auto-summary failed"),
    20_000,
    "the failure to be logged",
  );
  assert.match(peer.stderr(), /auto-summary failed: .*500/);
  const whoami = await peer.call("whoami");
  assert.equal(whoami.isError, false);
  assert.match(whoami.text, /summary: \(none: call set_summary\)/);
});
