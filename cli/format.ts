/**
 * Text formatting for the CLI: aligned tables and human durations.
 *
 * @module
 */
import type { DeliveryMode, Peer } from "../broker/protocol.ts";

/** Rows as columns padded to their widest cell; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length))
  );
  const line = (cells: string[]) =>
    cells.map((cell, column) => column === cells.length - 1 ? cell : cell.padEnd(widths[column]!))
      .join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** "3s ago", "5m ago", "2h ago", "4d ago". */
export function ago(iso: string, now: number = Date.now()): string {
  return `${duration(now - Date.parse(iso))} ago`;
}

/** A duration in its largest whole unit: "42s", "5m", "2h", "4d". */
export function duration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/**
 * The peers as a table read at a glance: name, id, branch, directory, how it hears you, how
 * long since it last acted for its model, summary. Long fields are cut (a directory keeps its
 * end); everything a peer controls is terminal-safe.
 */
export function peersTable(peers: Peer[], now: number = Date.now()): string {
  return table(
    ["NAME", "ID", "BRANCH", "DIRECTORY", "HEARS YOU", "ACTIVE", "SUMMARY"],
    peers.map((peer) => [
      truncate(terminalSafe(peer.name), 24),
      peer.id,
      truncate(terminalSafe(peer.branch ?? "-"), 20),
      truncateStart(terminalSafe(peer.cwd), 36),
      HEARS[peer.delivery],
      ago(peer.last_active, now),
      truncate(terminalSafe(peer.summary || "-"), 50),
    ]),
  );
}

const HEARS: Record<DeliveryMode, string> = {
  channel: "live (channel)",
  hooks: "live (hooks)",
  tool_call: "on its next tool call",
};

/**
 * `text` safe to print on a terminal: control characters (escape sequences that clear the
 * screen, set the title or write the clipboard), bidi overrides, zero-width characters and
 * line separators are shown as `\u{…}` instead of acting.
 */
export function terminalSafe(text: string): string {
  return text.replace(
    /[\p{Cc}\p{Cf}\u2028\u2029]/gu,
    (char) => `\\u{${char.codePointAt(0)!.toString(16)}}`,
  );
}

/**
 * `value` as JSON that is safe on a terminal too: DEL, C1 controls (an 8-bit CSI acts like
 * ESC [ on some terminals), bidi and zero-width characters and line separators become `\u`
 * escapes, which JSON.stringify leaves raw. The JSON value is the same.
 */
export function terminalSafeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\p{Cf}\u2028\u2029]/gu,
    (char) =>
      Array.from(
        { length: char.length },
        (_, i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`,
      ).join(""),
  );
}

function truncate(text: string, length: number): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

/** `text` cut at its start: a path keeps the directories nearest to it. */
function truncateStart(text: string, length: number): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > length ? `…${flat.slice(flat.length - length + 1)}` : flat;
}
