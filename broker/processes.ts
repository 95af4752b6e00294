/**
 * Facts about other processes, through `ps`: Deno lets only fully privileged programs read
 * another process's /proc entries, so this works the same on Linux and macOS. Windows has no
 * `ps`: every answer there is "unknown" (null), and a process counts as running.
 *
 * @module
 */

/** One `ps -o <format>` field of process `pid`, or null when unknown. */
export async function ps(pid: number, format: string): Promise<string | null> {
  if (Deno.build.os === "windows") return null;
  try {
    const output = await new Deno.Command("ps", {
      args: ["-o", format, "-p", String(pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(output.stdout).trim();
    return output.success && text ? text : null;
  } catch {
    return null;
  }
}

/** A process in the table {@link processTable} reads. */
export interface ProcessEntry {
  ppid: number;
  /** Its terminal, as `ps -o tty=` prints it ("?" or "??" when it has none). */
  tty: string;
  args: string[];
}

/**
 * Every process's parent and command line, from one `ps` run (walking ancestors one `ps` at a
 * time cost an MCP server up to six process starts before it answered). Null where unknown.
 */
export async function processTable(): Promise<Map<number, ProcessEntry> | null> {
  if (Deno.build.os === "windows") return null;
  const listing = await run("ps", ["-A", "-o", "pid=,ppid=,tty=,args="]);
  if (listing === null) return null;
  const table = new Map<number, ProcessEntry>();
  for (const line of listing.split("\n")) {
    const match = line.match(/^\s*(\d+)\s+(\d+)\s+(\S+)(?:\s+(.*))?$/);
    if (match) {
      table.set(Number(match[1]), {
        ppid: Number(match[2]),
        tty: match[3]!,
        args: (match[4] ?? "").split(/\s+/),
      });
    }
  }
  return table;
}

/** Whether process `pid` exists (true where that cannot be told). */
export async function isRunning(pid: number): Promise<boolean> {
  if (Deno.build.os === "windows") return true;
  return await ps(pid, "pid=") !== null;
}

/**
 * Who listens on loopback TCP `port`: "user NAME (uid N)", or null when that cannot be told
 * (no `ss`, nothing listening, not Linux). Deno denies /proc/net without -A, so ask `ss`, which
 * leaves out the uid of root's sockets.
 */
export async function portOwner(port: number): Promise<string | null> {
  if (Deno.build.os !== "linux") return null;
  const listing = await run("ss", ["-Htlne", `sport = :${port}`]);
  if (!listing || !/LISTEN/.test(listing)) return null;
  const uid = Number(listing.match(/\buid:(\d+)/)?.[1] ?? 0);
  const name = (await run("getent", ["passwd", String(uid)]))?.split(":")[0];
  return name ? `user ${name} (uid ${uid})` : `uid ${uid}`;
}

async function run(command: string, args: string[]): Promise<string | null> {
  try {
    const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "null" })
      .output();
    return output.success ? new TextDecoder().decode(output.stdout).trim() : null;
  } catch {
    return null;
  }
}
