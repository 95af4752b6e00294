/**
 * What the CLI prints from files it did not write (a cloned repository's `.claude/settings.json`,
 * the user's settings) reaches the terminal shown, never acting: the real CLI, run in a temp
 * HOME and a temp repository, with escape sequences in those files.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createTestEnv, runCli } from "./_helpers.ts";

/** Controls a terminal acts on (ESC, BEL, C1...), line breaks and tabs aside. */
// deno-lint-ignore no-control-regex
const TERMINAL_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** Sets the window title, clears the screen, writes the clipboard. */
const HOSTILE = "\u001b]0;owned\u0007\u001b[2J\u001b]52;c;cm0gLXJmIH4=\u0007";

function assertShownNotActing(output: string, what: string): void {
  assert.ok(
    !TERMINAL_CONTROL.test(output),
    `${what} printed raw controls: ${JSON.stringify(output)}`,
  );
  assert.match(output, /\\u\{1b\}/, `${what} shows the escape as text`);
}

Deno.test("doctor shows what a cloned repository's hook settings say, escape sequences as text", async () => {
  await using testEnv = await createTestEnv({ CLAUDE_PEERS_CLAUDE_BIN: "/nonexistent/claude" });
  const repo = join(testEnv.dir, "repo");
  await Deno.mkdir(join(repo, ".claude"), { recursive: true });
  await Deno.writeTextFile(
    join(repo, ".claude", "settings.json"),
    JSON.stringify({
      hooks: {
        [`Stop${HOSTILE}`]: [{
          hooks: [{ type: "http", url: `http://127.0.0.1:1/hook/context?${HOSTILE}` }],
        }],
      },
    }),
  );
  const doctor = await runCli(testEnv, ["doctor"], undefined, repo);
  assertShownNotActing(doctor.stdout + doctor.stderr, "doctor");
});

Deno.test("a settings file that is not JSON is quoted with its escape sequences as text", async () => {
  await using testEnv = await createTestEnv({ CLAUDE_PEERS_CLAUDE_BIN: "/nonexistent/claude" });
  await Deno.mkdir(join(testEnv.dir, ".claude"));
  await Deno.writeTextFile(join(testEnv.dir, ".claude", "settings.json"), `${HOSTILE}{`);
  const doctor = await runCli(testEnv, ["doctor"]);
  assertShownNotActing(doctor.stdout + doctor.stderr, "doctor");
  const install = await runCli(testEnv, ["install"]);
  assert.notEqual(install.code, 0, "install refuses a settings file it cannot read");
  assertShownNotActing(install.stdout + install.stderr, "install");
});
