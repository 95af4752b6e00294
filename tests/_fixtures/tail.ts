/**
 * A real `claude-peers tail` process in a test's environment, its stdout collected line by
 * line: `await using tail = await startTail(env, ["--json"])`. Disposal stops it (SIGKILL if it
 * is still running) and awaits its exit, so no tail outlives its test.
 *
 * @module
 */
import type { TestEnv } from "./env.ts";
import { waitFor } from "./wait.ts";

/** A running `claude-peers tail`. */
export interface TailProcess extends AsyncDisposable {
  process: Deno.ChildProcess;
  /** Every complete stdout line so far. */
  lines: string[];
  /** The stdout lines parsed as JSON (with `--json`). */
  events: () => Record<string, unknown>[];
  stderr: () => string;
  /** Resolves with the exit status once the process and its pipes are done. */
  status: Promise<Deno.CommandStatus>;
  /** Milliseconds from spawn to the first stdout line (with `--json`, the hello). */
  firstLineMs: () => number | undefined;
}

/** Starts `claude-peers tail` with `args` and waits (bounded) until it watches. */
export async function startTail(
  testEnv: TestEnv,
  args: string[] = ["--json"],
  readyTimeoutMs = 15_000,
): Promise<TailProcess> {
  const { command, args: fullArgs } = testEnv.command(["tail", ...args]);
  const started = performance.now();
  const process = new Deno.Command(command, {
    args: fullArgs,
    cwd: testEnv.dir,
    env: testEnv.env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let firstLineMs: number | undefined;
  let stderr = "";
  let buffered = "";
  const reading = Promise.all([
    process.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(chunk) {
          buffered += chunk;
          let newline;
          while ((newline = buffered.indexOf("\n")) >= 0) {
            firstLineMs ??= performance.now() - started;
            lines.push(buffered.slice(0, newline));
            buffered = buffered.slice(newline + 1);
          }
        },
      }),
    ),
    process.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (chunk) => void (stderr += chunk) }),
    ),
  ]);
  let exited = false;
  const status = (async () => {
    const result = await process.status;
    exited = true;
    await reading;
    return result;
  })();
  const tail: TailProcess = {
    process,
    lines,
    events: () => lines.map((line) => JSON.parse(line)),
    stderr: () => stderr,
    status,
    firstLineMs: () => firstLineMs,
    async [Symbol.asyncDispose]() {
      if (!exited) {
        try {
          process.kill("SIGKILL");
        } catch { /* it exited since the check */ }
      }
      await status;
    },
  };
  try {
    // With --json the hello is the first stdout line; without, tail says so on stderr.
    const ready = () => lines.length > 0 || stderr.includes("watching the broker");
    await waitFor(() => ready() || exited, readyTimeoutMs, "tail to start watching");
    if (!ready()) throw new Error(`tail exited early: ${stderr.trim()}`);
  } catch (error) {
    await tail[Symbol.asyncDispose]();
    throw error;
  }
  return tail;
}
