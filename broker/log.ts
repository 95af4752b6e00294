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

/** A log file larger than this is moved to `<path>.1` when the next broker starts. */
const MAX_LOG_BYTES = 1024 * 1024;

/** Sends diagnostics to an append-only, owner-only file instead of stderr. */
export function logToFile(path: string): void {
  try {
    if (Deno.statSync(path).size > MAX_LOG_BYTES) Deno.renameSync(path, `${path}.1`);
  } catch {
    // No log yet.
  }
  const file = Deno.openSync(path, { append: true, create: true, mode: 0o600 });
  sink = (line) => {
    file.writeSync(encoder.encode(line));
  };
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
