/**
 * Proves the Claude Code harness on its own (no claude-peers involved): a turn reaches the mock
 * API and a result comes back; an `asyncRewake` Stop hook exiting 2 wakes the idle session
 * with its stderr; a PostToolUse hook's additionalContext reaches the model after a tool call.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { harnessSkipReason, startClaudeCode } from "./harness.ts";
import { messagesText } from "./mock_anthropic.ts";

const skip = await harnessSkipReason();
const suffix = skip ? ` [ignored: ${skip}]` : "";

Deno.test({
  name: `a user turn reaches the mock API and a result event comes back${suffix}`,
  ignore: skip !== null,
  async fn() {
    await using cc = await startClaudeCode();
    await cc.send("HELLO-FIRST-TURN");
    const result = await cc.waitForResult(30_000);
    assert.equal(result.subtype, "success");
    assert.equal(result.result, "ok");
    assert.equal(result.session_id, cc.sessionId);
    const request = await cc.mock.waitForText("HELLO-FIRST-TURN", 1_000);
    assert.equal(request.body?.stream, true);
    // The prompt travels in a user message; Claude Code 2.1.330 also puts a role "system"
    // message (environment, skills) in `messages`, after it.
    const messages = request.body?.messages as { role: string }[];
    const carrier = messages.find((message) => JSON.stringify(message).includes("HELLO-FIRST"));
    assert.equal(carrier?.role, "user");
    assert.equal(cc.mock.mainRequests.length, 1);
  },
});

Deno.test({
  name: `an asyncRewake Stop hook that exits 2 wakes the idle session with its stderr${suffix}`,
  ignore: skip !== null,
  async fn() {
    // Stop also fires at the end of the woken turn: the marker makes the hook wake only once.
    const stopHook = `#!/bin/sh
cat >> "$HOME/stop-stdin.jsonl"; echo >> "$HOME/stop-stdin.jsonl"
[ -e "$HOME/woke" ] && exit 0
touch "$HOME/woke"
sleep 1
echo WAKE-123 >&2
date +%s%3N > "$HOME/stop-exit-ms"
exit 2
`;
    await using cc = await startClaudeCode({
      files: { "hooks/stop.sh": stopHook },
      settings: {
        hooks: {
          Stop: [{
            hooks: [{ type: "command", command: '"$HOME/hooks/stop.sh"', asyncRewake: true }],
          }],
        },
      },
    });
    await cc.send("first turn");
    const first = await cc.waitForResult(30_000);
    // No more input: stdin stays open and the session idles until the hook wakes it.
    const woken = await cc.mock.waitForText("WAKE-123", 30_000);
    const second = await cc.waitForResult(30_000, cc.events.indexOf(first) + 1);
    assert.equal(second.session_id, first.session_id);
    assert.match(messagesText(woken), /Stop hook blocking error from command \\"Stop\\": WAKE-123/);
    assert.equal(cc.mock.mainRequests.length, 2);

    const exitedAt = Number(await Deno.readTextFile(join(cc.home, "stop-exit-ms")));
    // deno-lint-ignore no-console
    console.log(
      `rewake: ${woken.at - first.at} ms from the first result to the woken request ` +
        `(hook sleeps 1000 ms), ${woken.at - exitedAt} ms from the hook's exit`,
    );
    assert.ok(woken.at - exitedAt < 5_000, "the woken request follows the hook's exit promptly");

    const inputs = (await Deno.readTextFile(join(cc.home, "stop-stdin.jsonl")))
      .split("\n").filter(Boolean).map((line) => JSON.parse(line));
    assert.equal(inputs[0].hook_event_name, "Stop");
    assert.equal(inputs[0].session_id, cc.sessionId);
    assert.equal(inputs[0].stop_hook_active, false);
  },
});

Deno.test({
  name: `a PostToolUse hook's additionalContext reaches the model after a Bash call${suffix}`,
  ignore: skip !== null,
  async fn() {
    const postHook = `#!/bin/sh
cat > "$HOME/post-stdin.json"
printf '%s' '{"hookSpecificOutput":{"hookEventName":"PostToolUse","additionalContext":"CTX-456"}}'
`;
    await using cc = await startClaudeCode({
      files: { "hooks/post.sh": postHook },
      settings: {
        hooks: {
          PostToolUse: [{
            matcher: "Bash",
            hooks: [{ type: "command", command: '"$HOME/hooks/post.sh"' }],
          }],
        },
      },
    });
    cc.mock.enqueue(
      { toolUse: { name: "Bash", input: { command: "echo hi", description: "Say hi" } } },
      "done",
    );
    await cc.send("please run echo");
    const result = await cc.waitForResult(30_000);
    assert.equal(result.result, "done");
    const [call, followUp] = cc.mock.mainRequests;
    assert.ok(call && followUp, "two main requests: the tool call and the follow-up");
    assert.ok(!messagesText(call).includes("CTX-456"));
    const toolUse = call.reply?.[0];
    assert.equal(toolUse?.type, "tool_use");
    const text = messagesText(followUp);
    assert.ok(text.includes(`"tool_use_id":"${toolUse.type === "tool_use" && toolUse.id}"`));
    assert.ok(text.includes('"content":"hi"'), "the Bash output came back as the tool result");
    assert.ok(text.includes("PostToolUse:Bash hook additional context: CTX-456"));

    const input = JSON.parse(await Deno.readTextFile(join(cc.home, "post-stdin.json")));
    assert.equal(input.hook_event_name, "PostToolUse");
    assert.equal(input.tool_name, "Bash");
    assert.deepEqual(input.tool_input, { command: "echo hi", description: "Say hi" });
    assert.equal(input.session_id, cc.sessionId);
  },
});

Deno.test({
  name: `bridgePorts makes a host loopback port reachable inside the namespace${suffix}`,
  ignore: skip !== null,
  async fn() {
    await using host = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response("BRIDGED-OK"),
    );
    const port = host.addr.port;
    await using cc = await startClaudeCode({ bridgePorts: [port] });
    // What a hook or an MCP server started by claude would do, from the same namespace.
    const output = await cc.command(Deno.execPath(), {
      args: ["eval", `console.log(await (await fetch("http://127.0.0.1:${port}/")).text())`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(output.stdout).trim(), "BRIDGED-OK");
  },
});
