/**
 * A `claude-peers hook <event>` process as Claude Code starts it: the session in its
 * environment, the hook JSON on stdin.
 *
 * @module
 */
import { claudePeersCommand, type TestEnv } from "./env.ts";

/** Spawns `hook wait` (the hook of Stop) or `hook context` (of PostToolUse) for `sessionId`. */
export function spawnHook(testEnv: TestEnv, event: "wait" | "context", sessionId: string) {
  const { command, args } = claudePeersCommand(["hook", event], testEnv.bin);
  const child = new Deno.Command(command, {
    args,
    env: { ...testEnv.env, CLAUDE_CODE_SESSION_ID: sessionId },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  writer.write(new TextEncoder().encode(JSON.stringify({
    session_id: sessionId,
    hook_event_name: event === "wait" ? "Stop" : "PostToolUse",
    cwd: testEnv.dir,
  }))).then(() => writer.close()).catch(() => {});
  return child;
}
