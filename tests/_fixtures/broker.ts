/**
 * A broker process started by a test: `await using broker = await startBroker(env)`.
 * Disposal sends SIGTERM (unless it already exited) and awaits its status, so no broker
 * outlives the test that started it.
 *
 * @module
 */
import type { TestEnv } from "./env.ts";
import { waitFor } from "./wait.ts";

/** A broker process started by a test. */
export interface BrokerProcess extends AsyncDisposable {
  process: Deno.ChildProcess;
  /** Sends `signal` (unless the broker already exited) and waits for the exit. */
  kill: (signal?: Deno.Signal) => Promise<Deno.CommandStatus>;
  /** Everything the broker wrote to stderr so far. */
  stderr: () => string;
}

/** Options for {@link startBroker}. */
export interface StartBrokerOptions {
  /** How long the broker may take to answer. @default 15000 */
  readyTimeoutMs?: number;
  /** Variables for this broker only, on top of the test's (e.g. libfaketime's). @default none */
  env?: Record<string, string>;
  /** Run the broker under `ulimit -n` of this many open files (POSIX `sh` only). */
  fileLimit?: number;
}

/**
 * `claude-peers broker` with `args` for `testEnv` (and `env` on top), output to null unless it
 * is asked for: for a broker a test expects to refuse or to stop on its own.
 */
export function brokerCommand(
  testEnv: TestEnv,
  args: string[] = [],
  options: { env?: Record<string, string>; stderr?: "piped" | "null" } = {},
): Deno.Command {
  const { command, args: fullArgs } = testEnv.command(["broker", ...args]);
  return new Deno.Command(command, {
    args: fullArgs,
    env: { ...testEnv.env, ...options.env },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: options.stderr ?? "null",
  });
}

/** Starts `claude-peers broker` in the foreground for `testEnv` and waits until it answers. */
export async function startBroker(
  testEnv: TestEnv,
  options: StartBrokerOptions = {},
): Promise<BrokerProcess> {
  const invocation = testEnv.command(["broker"]);
  const { command, args } = options.fileLimit === undefined ? invocation : {
    command: "sh",
    args: [
      "-c",
      `ulimit -n ${options.fileLimit} && exec "$0" "$@"`,
      invocation.command,
      ...invocation.args,
    ],
  };
  const process = new Deno.Command(command, {
    args,
    env: { ...testEnv.env, ...options.env },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const reading = process.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (stderr += chunk) }),
  );
  const status = process.status;
  let exited = false;
  status.then(() => exited = true);
  const kill = async (signal: Deno.Signal = "SIGTERM") => {
    if (!exited) {
      try {
        process.kill(signal);
      } catch { /* it exited since the check */ }
    }
    const result = await status;
    await reading;
    return result;
  };
  try {
    await waitFor(
      async () => {
        if (exited) {
          await reading;
          throw new Error(`The broker exited early: ${stderr.trim()}`);
        }
        try {
          await testEnv.client().health();
          return true;
        } catch {
          return false;
        }
      },
      options.readyTimeoutMs ?? 15_000,
      "the broker to answer",
    );
  } catch (error) {
    await kill("SIGKILL");
    throw error;
  }
  return {
    process,
    kill,
    stderr: () => stderr,
    async [Symbol.asyncDispose]() {
      await kill();
    },
  };
}
