/**
 * The temp environment of one test: its own HOME, database and free port, the command that
 * runs claude-peers there (`deno run main.ts`, or a binary), and a disposal that stops every
 * broker the test left running and removes the directory.
 *
 * It never touches the user's real HOME, database or broker port.
 *
 * @module
 */
import { join } from "node:path";
import { type SelfInvocation, selfInvocation } from "../../broker/spawn.ts";
import { resolveConfig } from "../../broker/config.ts";
import { BrokerClient } from "../../broker/client.ts";
import { stopEveryBroker } from "./stop.ts";

/** Environment of one test: its own home, database and port. */
export interface TestEnv extends AsyncDisposable {
  dir: string;
  port: number;
  dbPath: string;
  /** The complete environment of every process the test starts (`clearEnv` is used). */
  env: Record<string, string>;
  /** The claude-peers binary the test runs, or undefined for `deno run main.ts`. */
  bin: string | undefined;
  /** The command line that runs claude-peers with `args` in this environment. */
  command: (args: string[]) => SelfInvocation;
  /** A client for the test's broker, authenticated with the test's secret. */
  client: () => BrokerClient;
  /** Stops every broker of the test and removes the temp dir (what disposal does). */
  cleanup: () => Promise<void>;
}

/** Options for {@link createTestEnv}. */
export interface TestEnvOptions {
  /** Run this binary instead of `deno run main.ts`. @default CLAUDE_PEERS_BIN, if set */
  bin?: string;
  /** Prefix of the temp directory's name. @default "claude-peers-test-" */
  prefix?: string;
}

/** A port nothing listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The command that runs claude-peers: `bin`, else CLAUDE_PEERS_BIN, else `deno run main.ts`. */
export function claudePeersCommand(
  args: string[],
  bin: string | undefined = Deno.env.get("CLAUDE_PEERS_BIN"),
): SelfInvocation {
  return bin ? { command: bin, args } : selfInvocation(args);
}

let denoDir: Promise<string> | undefined;

/** Deno's cache directory, so `deno run` under a temp HOME still finds the npm packages. */
function findDenoDir(): Promise<string> {
  denoDir ??= (async () => {
    const fromEnv = Deno.env.get("DENO_DIR");
    if (fromEnv) return fromEnv;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json"],
      stdout: "piped",
    }).output();
    return JSON.parse(new TextDecoder().decode(output.stdout)).denoDir as string;
  })();
  return denoDir;
}

/** Variables Windows programs need even with a cleared environment. */
function windowsEssentials(home: string): Record<string, string> {
  if (Deno.build.os !== "windows") return {};
  const keep: Record<string, string> = { USERPROFILE: home };
  for (
    const name of ["SystemRoot", "SYSTEMROOT", "TEMP", "TMP", "LOCALAPPDATA", "PATHEXT", "ComSpec"]
  ) {
    const value = Deno.env.get(name);
    if (value) keep[name] = value;
  }
  return keep;
}

/**
 * A fresh temp home, database path and port, with `extra` variables on top:
 * `await using env = await createTestEnv()`.
 */
export async function createTestEnv(
  extra: Record<string, string> = {},
  options: TestEnvOptions = {},
): Promise<TestEnv> {
  const bin = options.bin ?? (Deno.env.get("CLAUDE_PEERS_BIN") || undefined);
  const dir = await Deno.makeTempDir({ prefix: options.prefix ?? "claude-peers-test-" });
  const port = freePort();
  const dbPath = join(dir, "peers.db");
  const env: Record<string, string> = {
    HOME: dir,
    CLAUDE_PEERS_PORT: String(port),
    CLAUDE_PEERS_DB: dbPath,
    CLAUDE_PEERS_CHANNEL: "on",
    PATH: Deno.env.get("PATH") ?? "",
    DENO_DIR: await findDenoDir(),
    DENO_NO_UPDATE_CHECK: "1",
    ...windowsEssentials(dir),
    ...extra,
  };
  const config = resolveConfig({ get: (name) => env[name] });
  const client = () => new BrokerClient(config);
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    cleaning ??= (async () => {
      try {
        await stopEveryBroker(testEnv);
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    })();
  const testEnv: TestEnv = {
    dir,
    port,
    dbPath,
    env,
    bin,
    command: (args) => claudePeersCommand(args, bin),
    client,
    cleanup,
    [Symbol.asyncDispose]: cleanup,
  };
  return testEnv;
}

/** A temp directory removed on disposal: `await using temp = await createTempDir("x-")`. */
export interface TempDir extends AsyncDisposable {
  path: string;
}

/** Creates a temp directory whose disposal removes it with everything inside. */
export async function createTempDir(prefix: string): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}
