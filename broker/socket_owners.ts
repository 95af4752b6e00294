/**
 * SocketOwners: which user holds the client end of a loopback TCP connection, read from
 * Linux's /proc/net/tcp (and /proc/net/tcp6 for IPv4-mapped sockets). Deno's permission set
 * cannot read /proc/net itself (it "requires all access"), so a long-lived `sh` coprocess reads
 * one line of wanted sockets and answers with `awk` over the table: no process of the broker's
 * own is forked per lookup, and lookups that wait meanwhile share the next scan. It never
 * decides what an owner may do; the gate does.
 *
 * Where it cannot run (not Linux, no /proc, no `sh` or `awk`), {@link SocketOwners.start}
 * returns null and the broker admits credentials from any local user, as before.
 *
 * @module
 */
import { SerialBatcher } from "./serial_batcher.ts";

/** The owner of one socket, or null when no open socket has those addresses. */
export interface SocketOwner {
  uid: number;
}

/** One lookup: the socket whose own address is `local` and whose peer is `remote`. */
interface Lookup {
  key: string;
}

/** Longest a scan may take before the coprocess is replaced. */
const SCAN_TIMEOUT_MS = 2_000;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** How /proc/net/tcp6 prints ::ffff:0.0.0.0 less its last word, in this machine's byte order. */
const MAPPED_PREFIX = LITTLE_ENDIAN ? "0000000000000000FFFF0000" : "00000000000000000000FFFF";

/**
 * Per request line (keys `LOCAL-REMOTE` as /proc/net/tcp prints them), one `KEY UID INODE` line
 * per socket found, then `.`; `!` when the table could not be read. tcp6 is read only when some
 * key is not in tcp. Orphaned and TIME_WAIT sockets print inode 0 (and uid 0).
 */
const AWK_PROGRAM = `
BEGIN {
  n = split(want, keys, " ")
  for (i = 1; i <= n; i++) {
    wanted[keys[i]] = 1
    split(keys[i], ends, "-")
    mapped[mapped_prefix ends[1] "-" mapped_prefix ends[2]] = keys[i]
  }
}
(($2 "-" $3) in wanted) { print $2 "-" $3, $8, $10; found++ }
END {
  if (found < n) {
    while ((getline line < "/proc/net/tcp6") > 0) {
      split(line, f, " ")
      if ((f[2] "-" f[3]) in mapped) print mapped[f[2] "-" f[3]], f[8], f[10]
    }
  }
  print "."
}`;
const LOOP = 'while IFS= read -r q; do awk -v want="$q" -v mapped_prefix="$2" "$1" ' +
  '/proc/net/tcp || echo "!"; done';

const encoder = new TextEncoder();

/** Looks up socket owners through one coprocess; close it with {@link close}. */
export class SocketOwners {
  #process: Coprocess | undefined;
  #batcher = new SerialBatcher<Lookup, SocketOwner | null>({
    commit: (lookups) => this.#scan(lookups),
  });
  #closed = false;

  /**
   * A working lookup, or null where there is none: it must find the owner of `listener`, the
   * caller's own listening socket, to be trusted with anyone else's.
   */
  static async start(listener: Deno.NetAddr, uid: number): Promise<SocketOwners | null> {
    if (Deno.build.os !== "linux") return null;
    const owners = new SocketOwners();
    try {
      const owner = await owners.ownerOf(listener, {
        transport: "tcp",
        hostname: "0.0.0.0",
        port: 0,
      });
      if (owner?.uid === uid) return owners;
    } catch {
      // No sh, no awk, or no /proc: as if not Linux.
    }
    await owners.close();
    return null;
  }

  /** The user holding the open socket at `local` connected to `remote`, if one does. */
  ownerOf(local: Deno.NetAddr, remote: Deno.NetAddr): Promise<SocketOwner | null> {
    const key = `${procAddress(local)}-${procAddress(remote)}`;
    if (key.includes("?")) return Promise.resolve(null);
    return this.#batcher.add({ key });
  }

  /** Ends the coprocess. */
  async close(): Promise<void> {
    this.#closed = true;
    const process = this.#process;
    this.#process = undefined;
    await process?.end();
  }

  async #scan(lookups: Lookup[]): Promise<PromiseSettledResult<SocketOwner | null>[]> {
    if (this.#closed) throw new Error("Socket owner lookups have stopped");
    const process = this.#process ??= Coprocess.spawn();
    let lines: string[];
    try {
      lines = await process.ask(lookups.map((lookup) => lookup.key).join(" "), SCAN_TIMEOUT_MS);
    } catch (error) {
      // A dead or stuck coprocess is replaced at the next scan.
      if (this.#process === process) this.#process = undefined;
      await process.end();
      throw error;
    }
    const owners = new Map<string, SocketOwner>();
    for (const line of lines) {
      const [key, uid, inode] = line.split(" ");
      if (key && inode !== "0" && /^\d+$/.test(uid ?? "")) owners.set(key, { uid: Number(uid) });
    }
    return lookups.map((lookup) => ({
      status: "fulfilled",
      value: owners.get(lookup.key) ?? null,
    }));
  }
}

/** `a.b.c.d:port` as /proc/net/tcp prints it, or "?" for an address it cannot hold. */
function procAddress(address: Deno.NetAddr): string {
  const bytes = address.hostname.split(".").map(Number);
  if (bytes.length !== 4 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    return "?";
  }
  const ordered = LITTLE_ENDIAN ? bytes.reverse() : bytes;
  return `${ordered.map((b) => hex(b, 2)).join("")}:${hex(address.port, 4)}`;
}

function hex(value: number, digits: number): string {
  return value.toString(16).toUpperCase().padStart(digits, "0");
}

/** The `sh` loop: one request line in, the answer's lines out. */
class Coprocess {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  static spawn(): Coprocess {
    return new Coprocess(
      new Deno.Command("sh", {
        args: ["-c", LOOP, "claude-peers-owners", AWK_PROGRAM, MAPPED_PREFIX],
        stdin: "piped",
        stdout: "piped",
        stderr: "null",
      }).spawn(),
    );
  }

  /** Sends one request line; resolves with the lines before its `.`. */
  async ask(request: string, timeoutMs: number): Promise<string[]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) =>
      timer = setTimeout(() => reject(new Error("Socket owner lookup timed out")), timeoutMs)
    );
    try {
      return await Promise.race([this.#ask(request), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #ask(request: string): Promise<string[]> {
    await this.#writer.write(encoder.encode(`${request}\n`));
    const lines: string[] = [];
    while (true) {
      const newline = this.#buffer.indexOf("\n");
      if (newline < 0) {
        const { value, done } = await this.#reader.read();
        if (done) throw new Error("Socket owner lookups ended");
        this.#buffer += value;
        continue;
      }
      const line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line === ".") return lines;
      if (line === "!") throw new Error("/proc/net/tcp could not be read");
      lines.push(line);
    }
  }

  /** Closes its input (the loop ends) and waits for it, killing it if need be. */
  async end(): Promise<void> {
    await this.#writer.close().catch(() => {});
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await this.#child.status;
    await this.#reader.cancel().catch(() => {});
  }
}
