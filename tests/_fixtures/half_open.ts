/**
 * A connection flood from its own process, so the test that measures the broker during the
 * flood does not share an event loop with it: `count` connections that each send half a
 * request head (or nothing) and hold, until the broker closes them or the deadline passes.
 * It reports, as one JSON line, how long each connection lasted.
 *
 * Run as a script: `deno run --allow-net half_open.ts PORT COUNT [partial|silent] DEADLINE_MS`.
 *
 * @module
 */
// deno-lint-ignore-file no-console -- a script that reports on stdout

/** What the flood saw. */
export interface FloodReport {
  /** Connections that were accepted. */
  opened: number;
  /** Connects that failed (refused or reset). */
  refused: number;
  /** Connections still open at the deadline. */
  stillOpen: number;
  /** How long each closed connection stayed open, in ms, sorted. */
  lifetimesMs: number[];
}

/** A running flood: `holding` once every connection was tried; `report` when all are done. */
export interface Flood extends AsyncDisposable {
  holding: Promise<void>;
  report: Promise<FloodReport>;
}

/** Starts a flood of `count` connections to 127.0.0.1:`port` in a child process. */
export function startFlood(
  port: number,
  count: number,
  options: { partial: boolean; deadlineMs: number },
): Flood {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-net",
      new URL(import.meta.url).pathname,
      String(port),
      String(count),
      options.partial ? "partial" : "silent",
      String(options.deadlineMs),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const holding = Promise.withResolvers<void>();
  const report = (async () => {
    while (true) {
      const { value, done } = await lines.read();
      if (done) break;
      text += value;
      if (text.includes("holding\n")) holding.resolve();
    }
    const status = await child.status;
    holding.resolve();
    const last = text.trim().split("\n").at(-1) ?? "";
    if (!status.success) throw new Error(`The flood failed: ${text}`);
    return JSON.parse(last) as FloodReport;
  })();
  return {
    holding: holding.promise,
    report,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      await report.catch(() => {});
    },
  };
}

async function flood(port: number, count: number, partial: boolean, deadlineMs: number) {
  const head = new TextEncoder().encode(
    `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Half: `,
  );
  const deadline = Date.now() + deadlineMs;
  let refused = 0;
  const lives: Promise<number | null>[] = [];
  for (let i = 0; i < count; i++) {
    let conn: Deno.Conn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
    } catch {
      refused++;
      continue;
    }
    const opened = Date.now();
    if (partial) await conn.write(head).catch(() => {});
    lives.push(lifetime(conn, opened, deadline));
  }
  console.log("holding");
  const ends = await Promise.all(lives);
  const lifetimesMs = ends.filter((end): end is number => end !== null).sort((a, b) => a - b);
  const report: FloodReport = {
    opened: lives.length,
    refused,
    stillOpen: ends.length - lifetimesMs.length,
    lifetimesMs,
  };
  console.log(JSON.stringify(report));
}

/** How long `conn` stays open (EOF or reset), or null if it outlives `deadline`. */
async function lifetime(conn: Deno.Conn, opened: number, deadline: number): Promise<number | null> {
  const buffer = new Uint8Array(1024);
  const timer = setTimeout(() => conn.close(), Math.max(0, deadline - Date.now()));
  try {
    while (await conn.read(buffer) !== null) { /* a refusal reply, then the close */ }
  } catch (error) {
    if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
      return null;
    }
  }
  clearTimeout(timer);
  const lived = Date.now() - opened;
  try {
    conn.close();
  } catch { /* closed */ }
  return Date.now() > deadline ? null : lived;
}

if (import.meta.main) {
  const [port, count, mode, deadlineMs] = Deno.args;
  await flood(Number(port), Number(count), mode === "partial", Number(deadlineMs));
}
