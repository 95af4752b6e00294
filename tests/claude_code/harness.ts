/**
 * Runs the real Claude Code CLI offline against {@linkcode MockAnthropic}, in a loopback-only
 * network namespace of its own:
 *
 * ```ts
 * await using cc = await startClaudeCode({ settings: { hooks: { ... } } });
 * cc.mock.enqueue({ toolUse: { name: "Bash", input: { command: "echo hi" } } });
 * await cc.send("hello");
 * await cc.waitForResult();
 * ```
 *
 * The arrangement: the mock is served by the test process on a Unix socket; `claude` runs under
 * `ip netns exec <ns>` next to a tiny forwarder (netns_forward.ts) that listens on 127.0.0.1
 * inside the namespace and pipes to that socket (the file system is shared, the network is not).
 * `bridgePorts` does the same for ports the test serves on the host loopback (a broker, say).
 * On dispose every process in the namespace is killed and the namespace deleted.
 *
 * @module
 */
import { join } from "node:path";
import { MockAnthropic, type MockOptions } from "./mock_anthropic.ts";
import { CLAUDE_BIN as claudeBin, ensureClaudeCli } from "../_fixtures/claude_cli.ts";

export { MockAnthropic } from "./mock_anthropic.ts";
export type { RecordedRequest, ScriptedReply } from "./mock_anthropic.ts";

const forwarder = new URL("./netns_forward.ts", import.meta.url).pathname;

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const output = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" })
      .output();
    const decoder = new TextDecoder();
    return {
      ok: output.success,
      out: (decoder.decode(output.stdout) + decoder.decode(output.stderr)).trim(),
    };
  } catch (error) {
    return { ok: false, out: String(error) };
  }
}

let denoDir: Promise<string> | undefined;

/** Deno's cache directory, so `deno run` under the temp HOME (an MCP server) finds its packages. */
function findDenoDir(): Promise<string> {
  denoDir ??= (async () => {
    const fromEnv = Deno.env.get("DENO_DIR");
    if (fromEnv) return fromEnv;
    const info = await run(Deno.execPath(), ["info", "--json"]);
    return JSON.parse(info.out).denoDir as string;
  })();
  return denoDir;
}

// Test modules run in parallel in one process: the pid alone does not tell their names apart.
const newNamespaceName = () =>
  `cch-${Deno.pid}-${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36)}`;

/** Set to run claude on the host network when `ip netns` is not permitted (no isolation). */
const NO_NETNS = Deno.env.get("CLAUDE_HARNESS_NO_NETNS") === "1";

/** Deletes empty namespaces left by harness processes that died without cleaning up. */
async function removeStaleNamespaces(): Promise<void> {
  const listed = await run("ip", ["netns", "list"]);
  for (const [, name, pid] of listed.out.matchAll(/^(cch-(\d+)-[0-9a-z]+)/gm)) {
    if (!name || await Deno.stat(`/proc/${pid}`).catch(() => null)) continue;
    if ((await run("ip", ["netns", "pids", name])).out) continue;
    await run("ip", ["netns", "del", name]);
  }
}

let probe: Promise<string | null> | undefined;

/**
 * Why the harness cannot run here (for a test's `ignore`), or null when it can. Installs the
 * CLI if needed and checks that a network namespace can be made.
 */
export function harnessSkipReason(): Promise<string | null> {
  probe ??= (async () => {
    if (Deno.build.os === "windows") return "the harness needs a POSIX system";
    if (Deno.build.os !== "linux" && !NO_NETNS) {
      return "ip netns needs Linux (CLAUDE_HARNESS_NO_NETNS=1 runs without isolation)";
    }
    const cli = await ensureClaudeCli();
    if ("error" in cli) return `the Claude Code CLI could not be installed: ${cli.error}`;
    if (NO_NETNS) return null;
    await removeStaleNamespaces();
    const name = newNamespaceName();
    const added = await run("ip", ["netns", "add", name]);
    if (!added.ok) {
      return `ip netns is not permitted (${added.out}); ` +
        "CLAUDE_HARNESS_NO_NETNS=1 runs without isolation";
    }
    await run("ip", ["netns", "del", name]);
    return null;
  })();
  return probe;
}

/** One line Claude Code printed on stdout (stream-json), with its arrival time. */
export interface StreamEvent {
  /** `Date.now()` when the line arrived. */
  at: number;
  type: string;
  subtype?: string;
  [key: string]: unknown;
}

/** Options of {@linkcode startClaudeCode}. */
export interface ClaudeCodeOptions {
  /** Working directory (made and removed when not given). */
  cwd?: string;
  /** HOME (made and removed when not given). */
  home?: string;
  /** Extra environment for claude (it otherwise gets a minimal one). */
  env?: Record<string, string>;
  /**
   * Files to write under HOME before start (path relative to HOME → content), made
   * executable: hook scripts, say, referred to in `settings` as `"$HOME/<path>"` (hook commands
   * run through a shell with HOME set).
   */
  files?: Record<string, string>;
  /** Written to `~/.claude/settings.json` (hooks, permissions, ...). */
  settings?: Record<string, unknown>;
  /** User-scope MCP servers, written to `~/.claude.json` under "mcpServers". */
  mcpServers?: Record<string, unknown>;
  /** More top-level keys for `~/.claude.json`. */
  claudeJson?: Record<string, unknown>;
  /** Extra command-line arguments for claude. */
  args?: string[];
  /** Options of the mock API. */
  mock?: MockOptions;
  /** Host loopback ports to make reachable at the same port inside the namespace. */
  bridgePorts?: number[];
  /**
   * Run the interactive UI (no `-p`) in a detached tmux session of a private tmux server
   * (200×50) instead of stream-json: use `capture()` and `type()`; `send`, `events` and the
   * event waits do not apply. Needs tmux (see {@linkcode tmuxSkipReason}).
   */
  interactive?: boolean;
}

/** A running Claude Code session. */
export interface ClaudeCode extends AsyncDisposable {
  readonly mock: MockAnthropic;
  readonly home: string;
  readonly cwd: string;
  /** The namespace claude runs in, or null without isolation. */
  readonly netns: string | null;
  /** The pid of the claude process. */
  readonly pid: number;
  /** Every stdout line so far, parsed. */
  readonly events: StreamEvent[];
  /** The session id from the init event ("" before it arrives). */
  readonly sessionId: string;
  /** What claude printed on stderr so far. */
  stderr(): string;
  /** Sends a user turn (a string or content blocks) as a stream-json line on stdin. */
  send(content: string | unknown[]): Promise<void>;
  /** The first event from position `since` that satisfies the predicate, waiting ≤ timeoutMs. */
  waitForEvent(
    predicate: (event: StreamEvent) => boolean,
    timeoutMs?: number,
    since?: number,
  ): Promise<StreamEvent>;
  /** The first `result` event from position `since`. */
  waitForResult(timeoutMs?: number, since?: number): Promise<StreamEvent>;
  /** A command that runs inside the session's namespace (or plainly without one). */
  command(cmd: string, options?: Deno.CommandOptions): Deno.Command;
  /** Interactive only: the visible screen as text (`tmux capture-pane -p`). */
  capture(): Promise<string>;
  /**
   * Interactive only: types `text` literally (`tmux send-keys -l`), waits until it shows on the
   * screen, then presses Enter. With `text` "" it only presses Enter.
   */
  type(text: string): Promise<void>;
  /** Interactive only: presses keys by tmux name (`Enter`, `Down`, `Escape`, ...). */
  keys(...names: string[]): Promise<void>;
  /** Stops everything and removes the temp dirs; also what `await using` calls. */
  close(): Promise<void>;
}

/** Reads a byte stream line by line. */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let buffer = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        onLine(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
      }
    }
  } catch {
    // the process went away
  }
  if (buffer) onLine(buffer);
}

function pipeConn(a: Deno.Conn, b: Deno.Conn): Promise<void> {
  return Promise.race([
    a.readable.pipeTo(b.writable, { preventClose: true }),
    b.readable.pipeTo(a.writable, { preventClose: true }),
  ]).catch(() => {}).finally(() => {
    for (const conn of [a, b]) {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  });
}

/** Accepts on a Unix socket and pipes each connection to a host loopback port. */
function bridge(path: string, port: number): { close: () => Promise<void> } {
  const listener = Deno.listen({ transport: "unix", path });
  const open = new Set<Promise<void>>();
  const loop = (async () => {
    try {
      for await (const conn of listener) {
        const piping = Deno.connect({ hostname: "127.0.0.1", port })
          .then((upstream) => pipeConn(conn, upstream), () => conn.close());
        open.add(piping);
        piping.finally(() => open.delete(piping));
      }
    } catch {
      // listener closed
    }
  })();
  return {
    close: async () => {
      listener.close();
      await loop;
      await Promise.all(open);
    },
  };
}

let tmuxProbe: Promise<string | null> | undefined;

/** Why an `interactive` session cannot run here (tmux missing, say), or null when it can. */
export function tmuxSkipReason(): Promise<string | null> {
  tmuxProbe ??= (async () => {
    const version = await run("tmux", ["-V"]);
    return version.ok ? null : `tmux is not available (${version.out})`;
  })();
  return tmuxProbe;
}

/** The interactive-only members of {@linkcode ClaudeCode}, and how to stop the tmux server. */
interface TmuxSession {
  pid: number;
  capture(): Promise<string>;
  type(text: string): Promise<void>;
  keys(...names: string[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts `claude <args>` in a detached 200×50 session of a private tmux server (its own socket
 * in `scratch`), inside `netns` when given. The server inherits `env` as its global environment,
 * so the pane gets it too (plus tmux's TERM). The test process talks to the server through the
 * socket file, which the namespace shares.
 */
async function startTmuxSession(
  scratch: string,
  netns: string | null,
  cwd: string,
  env: Record<string, string>,
  args: string[],
): Promise<TmuxSession> {
  const socket = join(scratch, "tmux.sock");
  const config = join(scratch, "tmux.conf");
  // remain-on-exit: a claude that dies leaves its last screen to capture; focus-events stops
  // claude suggesting it on screen.
  await Deno.writeTextFile(config, "set -g remain-on-exit on\nset -g focus-events on\n");
  const name = "claude";
  const tmux = async (tmuxArgs: string[]): Promise<string> => {
    const output = await new Deno.Command("tmux", {
      args: ["-S", socket, ...tmuxArgs],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    if (!output.success) {
      throw new Error(`tmux ${tmuxArgs.join(" ")}: ${decoder.decode(output.stderr).trim()}`);
    }
    return decoder.decode(output.stdout);
  };
  const launch = [
    "tmux",
    "-S",
    socket,
    "-f",
    config,
    "new-session",
    "-d",
    "-s",
    name,
    "-x",
    "200",
    "-y",
    "50",
    "-c",
    cwd,
    "--",
    claudeBin,
    ...args,
  ];
  const started = await new Deno.Command(netns ? "ip" : "tmux", {
    args: netns ? ["netns", "exec", netns, ...launch] : launch.slice(1),
    cwd,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const close = async () => {
    // Each pane leads its own process group: claude, its hooks and MCP servers.
    const pid = Number((await tmux(["display-message", "-p", "-t", name, "#{pane_pid}"])
      .catch(() => "")).trim());
    if (pid > 0) {
      try {
        Deno.kill(-pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await tmux(["kill-server"]).catch(() => {});
  };
  if (!started.success) {
    await close();
    throw new Error(`tmux new-session: ${new TextDecoder().decode(started.stderr).trim()}`);
  }
  const pid = Number(
    (await tmux(["display-message", "-p", "-t", name, "#{pane_pid}"]).catch(async (error) => {
      await close();
      throw error;
    })).trim(),
  );
  const capture = () => tmux(["capture-pane", "-p", "-t", name]);
  return {
    pid,
    capture,
    async type(text) {
      if (text) {
        await tmux(["send-keys", "-t", name, "-l", "--", text]);
        // Enter only once the text is in the input box, or it may count as part of a paste.
        const tail = text.slice(-20);
        const deadline = Date.now() + 5_000;
        let screen = await capture();
        while (!screen.includes(tail)) {
          if (Date.now() > deadline) {
            throw new Error(`typed text ${JSON.stringify(tail)} not on screen:\n${screen}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
          screen = await capture();
        }
      }
      await tmux(["send-keys", "-t", name, "Enter"]);
    },
    async keys(...names) {
      await tmux(["send-keys", "-t", name, ...names]);
    },
    close,
  };
}

/** Starts the mock, the namespace and claude; see the module doc. */
export async function startClaudeCode(options: ClaudeCodeOptions = {}): Promise<ClaudeCode> {
  const skip = await harnessSkipReason() ??
    (options.interactive ? await tmuxSkipReason() : null);
  if (skip) throw new Error(`the Claude Code harness cannot run here: ${skip}`);
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) await step().catch(() => {});
  };
  try {
    const scratch = await Deno.makeTempDir({ prefix: "claude-harness-" });
    cleanups.push(() => Deno.remove(scratch, { recursive: true }));
    const home = options.home ?? join(scratch, "home");
    const cwd = options.cwd ?? join(scratch, "project");
    await Deno.mkdir(join(home, ".claude"), { recursive: true });
    await Deno.mkdir(cwd, { recursive: true });
    // claude keeps per-session scratch files and a messaging socket under TMPDIR.
    const tmp = join(scratch, "tmp");
    await Deno.mkdir(tmp);
    const realCwd = await Deno.realPath(cwd);

    await Deno.writeTextFile(
      join(home, ".claude.json"),
      JSON.stringify(
        {
          hasCompletedOnboarding: true,
          projects: { [realCwd]: { hasTrustDialogAccepted: true } },
          ...(options.mcpServers ? { mcpServers: options.mcpServers } : {}),
          ...options.claudeJson,
        },
        null,
        2,
      ),
    );
    for (const [path, content] of Object.entries(options.files ?? {})) {
      const file = join(home, path);
      await Deno.mkdir(join(file, ".."), { recursive: true });
      await Deno.writeTextFile(file, content, { mode: 0o755 });
    }
    if (options.settings) {
      await Deno.writeTextFile(
        join(home, ".claude", "settings.json"),
        JSON.stringify(options.settings, null, 2),
      );
    }

    const mock = new MockAnthropic(options.mock);
    const netns = NO_NETNS ? null : newNamespaceName();
    let baseUrl: string;
    if (netns) {
      const mockSocket = join(scratch, "mock.sock");
      const server = Deno.serve({ path: mockSocket, onListen() {} }, mock.handle);
      cleanups.push(() => server.shutdown());
      const specs = [{ port: 0, path: mockSocket }];
      for (const port of options.bridgePorts ?? []) {
        const path = join(scratch, `bridge-${port}.sock`);
        const bridged = bridge(path, port);
        cleanups.push(bridged.close);
        specs.push({ port, path });
      }
      const added = await run("ip", ["netns", "add", netns]);
      if (!added.ok) throw new Error(`ip netns add ${netns}: ${added.out}`);
      cleanups.push(async () => {
        // Everything still alive in the namespace was started by this harness.
        for (let attempt = 0; attempt < 20; attempt++) {
          const pids = (await run("ip", ["netns", "pids", netns])).out.split(/\s+/)
            .filter(Boolean).map(Number);
          if (pids.length === 0) break;
          for (const pid of pids) {
            try {
              Deno.kill(pid, "SIGKILL");
            } catch {
              // already gone
            }
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await run("ip", ["netns", "del", netns]);
      });
      const lo = await run("ip", ["netns", "exec", netns, "ip", "link", "set", "lo", "up"]);
      if (!lo.ok) throw new Error(`bringing up lo in ${netns}: ${lo.out}`);
      const child = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          netns,
          Deno.execPath(),
          "run",
          "--no-config",
          "--no-lock",
          "--allow-net",
          "--allow-read",
          "--allow-write",
          forwarder,
          JSON.stringify(specs),
        ],
        // It exits when this pipe closes, so it cannot outlive a crashed test process.
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      cleanups.push(async () => {
        await child.stdin.close().catch(() => {});
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
        await child.status;
      });
      const reader = child.stdout.getReader();
      let text = "";
      const deadline = setTimeout(() => reader.cancel(), 20_000);
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      clearTimeout(deadline);
      reader.releaseLock();
      child.stdout.cancel().catch(() => {});
      const ports: number[] = JSON.parse(text || "{}").ports ?? [];
      if (!ports[0]) throw new Error(`the netns forwarder did not start: ${text}`);
      baseUrl = `http://127.0.0.1:${ports[0]}`;
    } else {
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, mock.handle);
      cleanups.push(() => server.shutdown());
      baseUrl = `http://127.0.0.1:${server.addr.port}`;
    }

    const env: Record<string, string> = {
      HOME: home,
      PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
      TMPDIR: tmp,
      ANTHROPIC_BASE_URL: baseUrl,
      ANTHROPIC_API_KEY: "dummy",
      ENABLE_TOOL_SEARCH: "false",
      DISABLE_AUTOUPDATER: "1",
      DISABLE_TELEMETRY: "1",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      // --dangerously-skip-permissions refuses to run as root unless told it is a sandbox.
      ...(Deno.uid() === 0 ? { IS_SANDBOX: "1" } : {}),
      DENO_DIR: await findDenoDir(),
      ...options.env,
    };
    const command = (cmd: string, commandOptions?: Deno.CommandOptions) =>
      netns
        ? new Deno.Command("ip", {
          ...commandOptions,
          args: ["netns", "exec", netns, cmd, ...(commandOptions?.args ?? [])],
        })
        : new Deno.Command(cmd, commandOptions);
    let closed: Promise<void> | undefined;
    const close = () => closed ??= cleanup();
    if (options.interactive) {
      const session = await startTmuxSession(scratch, netns, realCwd, env, [
        "--dangerously-skip-permissions",
        ...(options.args ?? []),
      ]);
      cleanups.push(session.close);
      const streamJsonOnly = () =>
        Promise.reject(new Error("an interactive session has no stream-json; use capture()"));
      return {
        mock,
        home,
        cwd: realCwd,
        netns,
        pid: session.pid,
        events: [],
        sessionId: "",
        stderr: () => "",
        send: streamJsonOnly,
        waitForEvent: streamJsonOnly,
        waitForResult: streamJsonOnly,
        command,
        capture: session.capture,
        type: session.type,
        keys: session.keys,
        close,
        [Symbol.asyncDispose]: close,
      };
    }
    const claudeArgs = [
      "-p",
      "--input-format",
      "stream-json",
      "--output-format",
      "stream-json",
      "--verbose",
      "--dangerously-skip-permissions",
      ...(options.args ?? []),
    ];
    // setsid: claude leads its own process group, so hooks and MCP servers die with it.
    const prefix = netns ? ["netns", "exec", netns, "setsid", claudeBin] : [claudeBin];
    const claude = new Deno.Command(netns ? "ip" : "setsid", {
      args: [...prefix, ...claudeArgs],
      cwd: realCwd,
      env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const status = claude.status;
    const stdin = claude.stdin.getWriter();
    const events: StreamEvent[] = [];
    let stderr = "";
    let sessionId = "";
    const eventWaiters = new Set<{ check: (event: StreamEvent, index: number) => void }>();
    const readers = Promise.all([
      readLines(claude.stdout, (line) => {
        if (!line.trim()) return;
        let event: StreamEvent;
        try {
          event = { ...JSON.parse(line), at: Date.now() };
        } catch {
          event = { type: "raw", line, at: Date.now() };
        }
        if (event.type === "system" && event.subtype === "init") {
          sessionId = String(event.session_id ?? "");
        }
        events.push(event);
        for (const waiter of [...eventWaiters]) waiter.check(event, events.length - 1);
      }),
      readLines(claude.stderr, (line) => stderr += line + "\n"),
    ]);
    let stdinOpen = true;
    cleanups.push(async () => {
      if (stdinOpen) {
        stdinOpen = false;
        await stdin.close().catch(() => {});
      }
      // claude -p exits on end of input once the turn is done; give it a moment, then kill.
      const exited = await Promise.race([
        status.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 2_000)),
      ]);
      // The process group: claude (unless it exited) and whatever it left behind (hooks).
      for (const target of exited ? [-claude.pid] : [-claude.pid, claude.pid]) {
        try {
          Deno.kill(target, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await status;
      await readers;
    });

    const waitForEvent = (
      predicate: (event: StreamEvent) => boolean,
      timeoutMs = 30_000,
      since = 0,
    ): Promise<StreamEvent> => {
      const found = events.slice(since).find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          check: (event: StreamEvent, index: number) => {
            if (index < since || !predicate(event)) return;
            clearTimeout(timer);
            eventWaiters.delete(waiter);
            resolve(event);
          },
        };
        const timer = setTimeout(() => {
          eventWaiters.delete(waiter);
          reject(
            new Error(
              `no matching event within ${timeoutMs} ms; events: ${
                events.map((e) => e.subtype ? `${e.type}/${e.subtype}` : e.type).join(", ")
              }; stderr: ${stderr.slice(-2000)}`,
            ),
          );
        }, timeoutMs);
        eventWaiters.add(waiter);
      });
    };

    const interactiveOnly = () =>
      Promise.reject(new Error("only an interactive session has a screen"));
    return {
      mock,
      home,
      cwd: realCwd,
      netns,
      pid: claude.pid,
      events,
      get sessionId() {
        return sessionId;
      },
      stderr: () => stderr,
      async send(content) {
        const line = JSON.stringify({ type: "user", message: { role: "user", content } });
        await stdin.write(new TextEncoder().encode(line + "\n"));
      },
      waitForEvent,
      waitForResult: (timeoutMs, since) =>
        waitForEvent((event) => event.type === "result", timeoutMs, since),
      command,
      capture: interactiveOnly,
      type: interactiveOnly,
      keys: interactiveOnly,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
