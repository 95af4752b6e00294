/**
 * The one logger for diagnostics. It writes to stderr (stdout of `claude-peers mcp` belongs to
 * the MCP protocol) or, for the auto-started broker, which has no terminal, to its log file.
 *
 * @module
 */

/** Writes one diagnostic line. */
export type LogSink = (line: string) => void;

const encoder = new TextEncoder();
let sink: LogSink = (line) => {
  Deno.stderr.writeSync(encoder.encode(line));
};
let prefix = "claude-peers";

/** Sets the name shown before each line. */
export function setLogPrefix(name: string): void {
  prefix = name;
}

/** A log file that would grow past this is moved to `<path>.1` and started afresh. */
export const MAX_LOG_BYTES = 1024 * 1024;

let rotating = false;

/**
 * Sends diagnostics to an append-only, owner-only file instead of stderr. The file is kept to
 * about {@link MAX_LOG_BYTES} only once {@link rotateLog} says this process owns it.
 */
export function logToFile(path: string): void {
  const open = () => Deno.openSync(path, { append: true, create: true, mode: 0o600 });
  let file = open();
  sink = (line) => {
    const bytes = encoder.encode(line);
    if (rotating && file.statSync().size + bytes.byteLength > MAX_LOG_BYTES) {
      try {
        Deno.renameSync(path, `${path}.1`);
        file.close();
        file = open();
      } catch {
        // It cannot be moved: appending beats losing the line.
      }
    }
    file.writeSync(bytes);
  };
}

/**
 * From now on the log file moves to `<path>.1` whenever it would pass {@link MAX_LOG_BYTES}.
 * Only the broker that holds the port says so: one that starts and loses the port writes its
 * one line to the running broker's log and never moves it.
 */
export function rotateLog(): void {
  rotating = true;
}

/** Logs one line with a timestamp. */
export function log(message: string): void {
  try {
    sink(`${new Date().toISOString()} ${prefix}: ${message}\n`);
  } catch {
    // Nowhere left to report to (stderr closed): dropping a diagnostic beats crashing.
  }
}

/** The message of any thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
