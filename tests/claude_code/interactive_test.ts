/**
 * claude-peers in the real, interactive Claude Code UI (no `-p`), offline: the same set-up as
 * peers_test.ts (a broker started by the test, `claude-peers install` into a temp HOME), but
 * claude runs in a detached tmux session inside the loopback-only network namespace and the
 * test reads the screen with `tmux capture-pane`. Proves that a message sent with the CLI wakes
 * an idle interactive session: the hook's one-line summary shows, the model gets the message
 * and its answer is printed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ClaudeCode, harnessSkipReason, tmuxSkipReason } from "./harness.ts";
import { hookedEnv, hookedPeerId, startHookedSession } from "./hooked_session.ts";
import { runCli, startBroker, waitFor } from "../_helpers.ts";

const skip = await tmuxSkipReason() ?? await harnessSkipReason();
const suffix = skip ? ` [ignored: ${skip}]` : "";

/** The input line of the prompt (a dialog's cursor `❯` is indented). */
const PROMPT = /^❯/m;

/**
 * The idle prompt: the input line and the permission-mode footer, no dialog over them.
 * Answers the start-up dialogs Claude Code 2.1.330 shows (the custom API key, the bypass
 * permissions warning; the trust dialog should not come, the harness accepts it in
 * `.claude.json`) until the idle prompt shows. Bounded; each dialog is answered by moving the
 * cursor to the accepting choice, then Enter.
 */
async function reachPrompt(
  cc: ClaudeCode,
  timeoutMs: number,
): Promise<{ screen: string; answered: string[] }> {
  const deadline = Date.now() + timeoutMs;
  let screen = "";
  let answers = 0;
  const answered: string[] = [];
  while (Date.now() < deadline) {
    screen = await cc.capture();
    const dialog = screen.includes("Enter to confirm");
    if (!dialog && PROMPT.test(screen) && screen.includes("bypass permissions on")) {
      return { screen, answered };
    }
    if (dialog && answers < 10) {
      const wanted = screen.includes("Do you want to use this API key?")
        ? "Yes"
        : screen.includes("Bypass Permissions mode")
        ? "Yes, I accept"
        : /trust/i.test(screen)
        ? "Yes, proceed"
        : null;
      if (wanted === null) throw new Error(`an unexpected dialog:\n${screen}`);
      // The choices are lines; the cursor's one starts with an indented "❯ ".
      const lines = screen.split("\n");
      const cursor = lines.findIndex((line) => /^ +❯ /.test(line));
      const target = lines.findIndex((line) => line.replace(/^ *(❯ )? */, "").startsWith(wanted));
      if (target < 0) throw new Error(`no choice "${wanted}" in the dialog:\n${screen}`);
      if (target === cursor) answered.push(wanted);
      await cc.keys(target === cursor ? "Enter" : target > cursor ? "Down" : "Up");
      answers++;
      // The next screen, not this one again: wait for the choice or the dialog to change.
      const before = screen;
      await waitFor(async () => (screen = await cc.capture()) !== before, 5_000, "a new screen")
        .catch(() => {});
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no idle prompt within ${timeoutMs} ms; the screen:\n${screen}`);
}

/** Waits until the screen satisfies `predicate`; the screen it saw last, or an error with it. */
async function waitForScreen(
  cc: ClaudeCode,
  predicate: (screen: string) => boolean,
  timeoutMs: number,
  what: string,
): Promise<string> {
  let screen = "";
  await waitFor(async () => predicate(screen = await cc.capture()), timeoutMs, what)
    .catch((error) => {
      throw new Error(`${error.message}; the screen:\n${screen}`);
    });
  return screen;
}

Deno.test({
  name: `an idle interactive session in tmux shows a peer's message and answers it${suffix}`,
  ignore: skip !== null,
  async fn() {
    const startedAt = Date.now();
    await using testEnv = await hookedEnv();
    await using _broker = await startBroker(testEnv);
    await using cc = await startHookedSession(testEnv, { interactive: true });
    let screen = "";
    try {
      const ready = await reachPrompt(cc, 30_000);
      screen = ready.screen;
      const readyAt = Date.now();

      await cc.type("hello");
      await cc.mock.waitForText("hello", 15_000);
      screen = await waitForScreen(cc, (s) => /^● ok *$/m.test(s), 15_000, 'the reply "ok"');
      const answeredAt = Date.now();
      const peerId = await hookedPeerId(testEnv, 15_000);

      const marker = "PING-FROM-TMUX";
      const answer = "ANSWERED-THE-PEER";
      cc.mock.enqueue(answer);
      const sentAt = Date.now();
      const sent = await runCli(testEnv, ["send", peerId, marker]);
      assert.equal(sent.code, 0, sent.stderr);
      const woken = await cc.mock.waitForText(marker, 15_000);
      const seen: Record<string, number> = {};
      screen = await waitForScreen(
        cc,
        (s) => {
          for (const text of ["claude-peers: new message", answer]) {
            if (s.includes(text)) seen[text] ??= Date.now() - sentAt;
          }
          return Object.keys(seen).length === 2;
        },
        Math.max(0, 15_000 - (Date.now() - sentAt)),
        `the hook's summary and "${answer}" on screen (seen: ${JSON.stringify(seen)})`,
      );
      // deno-lint-ignore no-console
      console.log(
        `dialogs answered: ${JSON.stringify(ready.answered)}; prompt ready ` +
          `${readyAt - startedAt} ms after start, "ok" ${answeredAt - readyAt} ms ` +
          `after typing; message sent -> model request ${woken.at - sentAt} ms, on screen ` +
          `${JSON.stringify(seen)} ms\n${screen.trimEnd()}`,
      );
    } catch (error) {
      // deno-lint-ignore no-console
      console.log(`the screen:\n${(await cc.capture().catch(() => screen)).trimEnd()}`);
      throw error;
    }
  },
});
