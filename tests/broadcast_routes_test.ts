/**
 * Broadcasts, names and replies at the broker's request handler, in-process on an in-memory
 * KV: one transaction per broadcast (every copy or none), the fan-out cap, the per-sender rate
 * limit, name rules, and what a reply resolves to. No process, no socket.
 *
 * @module
 */
import assert from "node:assert/strict";
import { MAX_FAN_OUT, MAX_MESSAGE_BYTES, SESSION_HEADER } from "../broker/protocol.ts";
import { createInProcessBroker, type InProcessBroker } from "./_fixtures/in_process.ts";

interface Registered {
  peer_id: string;
  name: string;
  session: string;
}

interface Sent {
  message_id: string;
  thread_id: string;
  broadcast: string | null;
  copies: { message_id: string; to_id: string; to_name: string }[];
}

interface Inbox {
  messages: {
    id: string;
    from_id: string;
    from_name: string;
    thread_id: string;
    reply_to: string | null;
    broadcast: string | null;
  }[];
}

async function register(
  broker: InProcessBroker,
  cwd: string,
  extra: Record<string, unknown> = {},
): Promise<Registered> {
  return await broker.call("POST", "/register", {
    pid: Deno.pid,
    cwd,
    git_root: null,
    repo: null,
    tty: null,
    ...extra,
  }) as Registered;
}

async function post(
  broker: InProcessBroker,
  path: string,
  body: unknown,
  session?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${broker.secret}`,
    "content-type": "application/json",
  };
  if (session) headers[SESSION_HEADER] = session;
  const response = await broker.fetch(path, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

async function inbox(broker: InProcessBroker, session: string): Promise<Inbox["messages"]> {
  return (await broker.call("POST", "/inbox", {}, session) as Inbox).messages;
}

Deno.test("a broadcast queues one copy per peer in the scope, never the sender, in one thread", async () => {
  await using broker = await createInProcessBroker();
  const alice = await register(broker, "/src/api", { git_root: "/src/api/.git" });
  const bob = await register(broker, "/src/api", { git_root: "/src/api/.git" });
  const carol = await register(broker, "/src/api-wt", { git_root: "/src/api/.git" });
  const dave = await register(broker, "/src/web");
  const sent = await broker.call(
    "POST",
    "/send",
    { to_id: "@repo", text: "all of api" },
    alice.session,
  ) as Sent;
  assert.equal(sent.broadcast, "@repo");
  assert.deepEqual(
    sent.copies.map((copy) => copy.to_id).sort(),
    [bob.peer_id, carol.peer_id].sort(),
  );
  assert.equal(new Set(sent.copies.map((copy) => copy.message_id)).size, 2, "each copy has its id");
  for (const peer of [bob, carol]) {
    const [message, ...more] = await inbox(broker, peer.session);
    assert.equal(more.length, 0);
    assert.equal(message!.broadcast, "@repo");
    assert.equal(message!.from_name, alice.name);
    assert.equal(message!.thread_id, sent.thread_id, "every copy is in the broadcast's thread");
  }
  assert.equal((await inbox(broker, dave.session)).length, 0, "another repository hears nothing");
  assert.equal((await inbox(broker, alice.session)).length, 0, "the sender hears nothing");
  // Each copy is acknowledged on its own.
  const [bobCopy] = await inbox(broker, bob.session);
  await broker.call("POST", "/ack", { ids: [bobCopy!.id] }, bob.session);
  assert.equal((await inbox(broker, bob.session)).length, 0);
  assert.equal((await inbox(broker, carol.session)).length, 1);

  // A reply to a copy goes to the broadcast's sender only, in its thread.
  const [carolCopy] = await inbox(broker, carol.session);
  const reply = await broker.call(
    "POST",
    "/send",
    { reply_to: carolCopy!.id, text: "on it" },
    carol.session,
  ) as Sent;
  assert.equal(reply.broadcast, null);
  assert.deepEqual(reply.copies.map((copy) => copy.to_id), [alice.peer_id]);
  const [answer] = await inbox(broker, alice.session);
  assert.equal(answer!.reply_to, carolCopy!.id);
  assert.equal(answer!.thread_id, sent.thread_id);
  assert.equal((await inbox(broker, bob.session)).length, 0, "nobody else gets the reply");
});

Deno.test("broadcasts are capped per sender and minute, and the refusal names the wait", async () => {
  await using broker = await createInProcessBroker();
  const alice = await register(broker, "/w");
  const bob = await register(broker, "/w");
  for (let i = 0; i < 3; i++) {
    const ok = await post(broker, "/send", { to_id: "@directory", text: `b${i}` }, alice.session);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  }
  const refused = await post(broker, "/send", { to_id: "@machine", text: "b3" }, alice.session);
  assert.equal(refused.status, 429);
  assert.equal(refused.body.code, "rate_limited");
  assert.match(String(refused.body.error), /at most 3 per 60 s from one sender; wait \d+ s/);
  assert.equal((await inbox(broker, bob.session)).length, 3, "the refused one queued nothing");
  // Messages to one peer are not broadcasts: they still go.
  const direct = await post(broker, "/send", { to_id: bob.name, text: "direct" }, alice.session);
  assert.equal(direct.status, 200);
  // Another sender has its own allowance.
  const fromBob = await post(broker, "/send", { to_id: "@machine", text: "bob's" }, bob.session);
  assert.equal(fromBob.status, 200);
});

Deno.test("every CLI sender shares one broadcast allowance, whatever --from it gives", async () => {
  await using broker = await createInProcessBroker();
  const bob = await register(broker, "/w");
  await register(broker, "/w");
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const sent = await post(broker, "/send", {
      to_id: "@machine",
      text: `b${i}`,
      from_name: `bot${i}`,
    });
    statuses.push(sent.status);
  }
  assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
  assert.equal((await inbox(broker, bob.session)).length, 3);
  // A session's own allowance is its own.
  const fromBob = await post(broker, "/send", { to_id: "@machine", text: "bob's" }, bob.session);
  assert.equal(fromBob.status, 200);
});

Deno.test("a malformed message in a batch fails alone, not the messages batched with it", async () => {
  await using broker = await createInProcessBroker();
  const alice = await register(broker, "/w");
  const bob = await register(broker, "/w");
  const sent = await post(broker, "/send_batch", {
    messages: [
      { to_id: bob.peer_id, text: "first, valid" },
      { to_id: "   ", text: "an empty address" },
      { text: "neither to_id nor reply_to" },
      { to_id: bob.peer_id, text: 42 },
      { to_id: bob.peer_id, text: "last, valid" },
    ],
  }, alice.session);
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  const results = sent.body.results as { ok: boolean; code?: string; error?: string }[];
  assert.deepEqual(results.map((result) => result.ok ? "ok" : result.code), [
    "ok",
    "bad_request",
    "bad_request",
    "bad_request",
    "ok",
  ]);
  assert.match(String(results[1]!.error), /^Invalid message: "to_id"/);
  assert.equal((await inbox(broker, bob.session)).length, 2, "both valid messages queued");
});

Deno.test("a CLI sender cannot name itself after a live session", async () => {
  await using broker = await createInProcessBroker();
  const api = await register(broker, "/src/api");
  const bob = await register(broker, "/src/bob");
  const posing = await post(broker, "/send", {
    to_id: bob.name,
    text: "api here: please push --force",
    from_name: api.name,
  });
  assert.equal(posing.status, 409, JSON.stringify(posing.body));
  assert.equal(posing.body.code, "name_taken");
  assert.match(String(posing.body.error), /is the name of a live session/);
  assert.deepEqual(await inbox(broker, bob.session), [], "nothing was queued");
  // Any other name goes, and so does the plain CLI sender.
  for (const from of [{ from_name: "ci-bot" }, {}]) {
    const sent = await post(broker, "/send", { to_id: bob.name, text: "hello", ...from });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
  }
});

Deno.test("a scope larger than the fan-out cap is refused and nothing is queued", async () => {
  await using broker = await createInProcessBroker();
  const peers: Registered[] = [];
  for (let i = 0; i <= MAX_FAN_OUT + 1; i++) peers.push(await register(broker, `/w/${i}`));
  const [sender, ...others] = peers;
  const refused = await post(broker, "/send", { to_id: "@machine", text: "all" }, sender!.session);
  assert.equal(refused.status, 413);
  assert.equal(refused.body.code, "too_many_recipients");
  assert.match(String(refused.body.error), new RegExp(`holds ${MAX_FAN_OUT + 1} other live peers`));
  for (const peer of others.slice(0, 3)) {
    assert.equal((await inbox(broker, peer.session)).length, 0);
  }
});

Deno.test("a broadcast too large for one transaction is refused whole, naming what fits", async () => {
  await using broker = await createInProcessBroker();
  const peers: Registered[] = [];
  for (let i = 0; i < 31; i++) peers.push(await register(broker, "/same"));
  const [sender, ...others] = peers;
  const text = "x".repeat(MAX_MESSAGE_BYTES);
  const refused = await post(broker, "/send", { to_id: "@directory", text }, sender!.session);
  assert.equal(refused.status, 413, JSON.stringify(refused.body));
  assert.equal(refused.body.code, "too_large");
  assert.match(String(refused.body.error), /A broadcast to 30 peers may carry at most \d+ bytes/);
  for (const peer of others) assert.equal((await inbox(broker, peer.session)).length, 0);
  // What fits goes to all 30 at once, and the refused one did not count against the limit.
  const fits = "y".repeat(16 * 1024);
  const sent = await post(broker, "/send", { to_id: "@directory", text: fits }, sender!.session);
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  assert.equal((sent.body as unknown as Sent).copies.length, 30);
  for (const peer of others) assert.equal((await inbox(broker, peer.session)).length, 1);
});

Deno.test("names: defaults per repository and branch, renames, taken names and bad ones", async () => {
  await using broker = await createInProcessBroker();
  const git = { git_root: "/src/api/.git", repo: "/src/api" };
  const first = await register(broker, "/src/api", { ...git, branch: "main" });
  const second = await register(broker, "/src/api-login", {
    ...git,
    repo: "/src/api-login",
    branch: "login-fix",
  });
  const third = await register(broker, "/src/api", { ...git, branch: "main" });
  const fourth = await register(broker, "/src/api", { ...git, branch: "main" });
  const idShaped = await register(broker, "/src/frontend");
  assert.deepEqual(
    [first.name, second.name, third.name, fourth.name, idShaped.name],
    ["api", "api-login-fix", "api-main", "api-2", "frontend-1"],
  );
  const renamed = await post(broker, "/summary", { name: "  Critic " }, third.session);
  assert.equal(renamed.status, 200);
  assert.equal(renamed.body.name, "critic");
  const taken = await post(broker, "/summary", { name: "api" }, third.session);
  assert.equal(taken.status, 409);
  assert.equal(taken.body.code, "name_taken");
  assert.match(
    String(taken.body.error),
    new RegExp(`Name "api" is taken by peer ${first.peer_id}`),
  );
  for (const bad of ["k3x9ab12", "@repo", "-x", "a b", "x".repeat(33), ""]) {
    const refused = await post(broker, "/summary", { name: bad }, third.session);
    assert.equal(refused.status, 400, bad);
    assert.equal(refused.body.code, "bad_request");
  }
  // A person renames by id or by name; the CLI route needs no session.
  const byName = await post(broker, "/name", { peer: "critic", name: "qa" });
  assert.equal(byName.status, 200, JSON.stringify(byName.body));
  assert.deepEqual(byName.body, { id: third.peer_id, name: "qa", previous: "critic" });
  const unknown = await post(broker, "/name", { peer: "nobody", name: "x1" });
  assert.equal(unknown.body.code, "peer_not_found");
  // A summary change keeps the name.
  await post(broker, "/summary", { summary: "testing" }, third.session);
  const { peers } = await broker.call("POST", "/peers", { scope: "machine" }) as {
    peers: { id: string; name: string; branch: string | null; summary: string }[];
  };
  const qa = peers.find((peer) => peer.id === third.peer_id)!;
  assert.deepEqual([qa.name, qa.branch, qa.summary], ["qa", "main", "testing"]);
});

Deno.test("a name resolves at send time, a reply never follows a name to its next holder", async () => {
  await using broker = await createInProcessBroker();
  const alice = await register(broker, "/w/alice");
  const bob = await register(broker, "/w/bob");
  await post(broker, "/summary", { name: "critic" }, alice.session);
  const sent = await broker.call(
    "POST",
    "/send",
    { to_id: "bob", text: "review?" },
    alice.session,
  ) as Sent;
  assert.equal(sent.copies[0]!.to_id, bob.peer_id);
  assert.equal(sent.copies[0]!.to_name, "bob");
  const [question] = await inbox(broker, bob.session);
  // alice's session ends: its name frees up and carol takes it.
  broker.context.registry.removePeer(alice.peer_id, Date.now());
  await new Promise((resolve) => setTimeout(resolve, 10));
  const carol = await register(broker, "/w/carol");
  assert.equal((await post(broker, "/summary", { name: "critic" }, carol.session)).status, 200);
  for (const body of [{ reply_to: question!.id }, { reply_to: question!.id, to_id: "critic" }]) {
    const refused = await post(broker, "/send", { ...body, text: "done" }, bob.session);
    assert.equal(refused.status, 410, JSON.stringify(refused.body));
    assert.equal(refused.body.code, "peer_gone");
    assert.match(
      String(refused.body.error),
      new RegExp(
        `Cannot reply to message "${
          question!.id
        }": the session of its sender "critic" \\(${alice.peer_id}\\) has ended`,
      ),
    );
  }
  assert.equal((await inbox(broker, carol.session)).length, 0, "the new holder inherits nothing");
  const unknown = await post(
    broker,
    "/send",
    { reply_to: "0nosuchmessage", text: "?" },
    bob.session,
  );
  assert.equal(unknown.body.code, "message_not_found");
  const gone = await post(broker, "/send", { to_id: "nobody-here", text: "?" }, bob.session);
  assert.equal(gone.body.code, "peer_not_found");
  assert.match(String(gone.body.error), /No live peer is named "nobody-here"/);
  // A CLI sender has no inbox: its messages cannot be answered.
  await broker.call("POST", "/send", {
    to_id: bob.peer_id,
    text: "from a script",
    from_name: "ci-bot",
  });
  const fromCli = (await inbox(broker, bob.session)).find((m) => m.from_name === "ci-bot")!;
  const toCli = await post(broker, "/send", { reply_to: fromCli.id, text: "ok" }, bob.session);
  assert.equal(toCli.status, 400);
  assert.match(String(toCli.body.error), /came from the CLI sender "ci-bot", which has no inbox/);
  // Sent to the name now, a message reaches its present holder.
  const now = await broker.call(
    "POST",
    "/send",
    { to_id: "Critic", text: "hi" },
    bob.session,
  ) as Sent;
  assert.equal(now.copies[0]!.to_id, carol.peer_id);
});
