/**
 * Text formatting for the CLI: aligned tables and human durations.
 *
 * @module
 */
import type { DeliveryMode, Peer } from "../broker/protocol.ts";
import { terminalSafe } from "./terminal_safe.ts";

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

function truncate(text: string, length: number): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

/** `text` cut at its start: a path keeps the directories nearest to it. */
export function truncateStart(text: string, length: number): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > length ? `…${flat.slice(flat.length - length + 1)}` : flat;
}
