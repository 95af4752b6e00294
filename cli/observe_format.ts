/**
 * How `claude-peers log` and `claude-peers tail` read for a person: one line per message or
 * event, times in local time, coloured only when asked (a terminal, and no NO_COLOR).
 * Everything a peer controls goes through {@link terminalSafe}.
 *
 * @module
 */
import type { BrokerEvent, LogEntry } from "../broker/protocol.ts";
import { terminalSafe } from "./terminal_safe.ts";
import { truncateStart } from "./format.ts";

/** ANSI colours, or none. */
export interface Palette {
  dim: (text: string) => string;
  green: (text: string) => string;
  red: (text: string) => string;
  yellow: (text: string) => string;
  cyan: (text: string) => string;
  magenta: (text: string) => string;
}

const plain = (text: string) => text;
const ansi = (code: number) => (text: string) => `\x1b[${code}m${text}\x1b[0m`;

/** The palette for output that is a terminal (and NO_COLOR not set), else no colour. */
export function palette(colour: boolean): Palette {
  if (!colour) {
    return { dim: plain, green: plain, red: plain, yellow: plain, cyan: plain, magenta: plain };
  }
  return {
    dim: ansi(2),
    green: ansi(32),
    red: ansi(31),
    yellow: ansi(33),
    cyan: ansi(36),
    magenta: ansi(35),
  };
}

/**
 * `value` as one line of JSON in which control, format (bidi, zero-width) and line-separator
 * characters are `\u` escapes: the same JSON value, but a terminal shows what a peer wrote
 * instead of acting on it.
 */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\p{Cc}\p{Cf}\u2028\u2029]/gu,
    (char) =>
      Array.from(
        { length: char.length },
        (_, i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`,
      ).join(""),
  );
}

function pad(value: number): string {
  return String(value).padStart(2, "0");
}

/** "14:03:07" in local time. */
export function clock(iso: string): string {
  const date = new Date(iso);
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** "2026-12-01 14:03:07" in local time. */
export function dateTime(iso: string): string {
  const date = new Date(iso);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${clock(iso)}`;
}

/** "name (id)" or "id", terminal-safe. */
export function who(id: string, name: string | undefined): string {
  return name ? `${terminalSafe(name)} (${terminalSafe(id)})` : terminalSafe(id);
}

/** The first line of `text`, at most `max` characters, on one line. */
export function headline(text: string, max = 100): string {
  const line = text.split(/\r?\n|\r|\u2028|\u2029/, 1)[0] ?? "";
  const cut = line.length > max ? `${line.slice(0, max - 1)}…` : line;
  const more = text.length > line.length ? " …" : "";
  return terminalSafe(cut) + more;
}

function fromName(entry: LogEntry): string | undefined {
  const name = (entry as { from_name?: unknown }).from_name;
  return typeof name === "string" && name !== "" ? name : undefined;
}

function threadOf(entry: LogEntry): string | undefined {
  const thread = (entry as { thread_id?: unknown }).thread_id;
  return typeof thread === "string" && thread !== "" && thread !== entry.id ? thread : undefined;
}

/** One log entry: when, who to whom, what became of it, the first line (or all) of the text. */
export function logLine(entry: LogEntry, colours: Palette, full: boolean): string {
  const sender = entry.from_kind === "cli"
    ? `${terminalSafe(entry.from_id)} (cli)`
    : who(entry.from_id, fromName(entry));
  const state = entry.state === "delivered"
    ? colours.green(`delivered ${clock(entry.state_at ?? entry.sent_at)} via ${entry.via}`)
    : entry.state === "expired"
    ? colours.red("expired")
    : colours.yellow("queued");
  const thread = threadOf(entry);
  const head = `${colours.dim(dateTime(entry.sent_at))}  ${sender} → ${
    who(entry.to_id, entry.to_name)
  }  ${state}${thread ? colours.dim(`  thread ${terminalSafe(thread)}`) : ""}`;
  if (!full) return `${head}\n    ${headline(entry.text)}`;
  const body = terminalSafe(entry.text.replace(/\r\n?/g, "\n")).replaceAll("\\u{a}", "\n")
    .split("\n").map((line) => `    ${line}`).join("\n");
  return `${head}\n${body}`;
}

/** Remembers names from events, for events that carry only an id. */
export class NameBook {
  #names = new Map<string, string>();

  /** Learns what `event` says about names. */
  learn(event: BrokerEvent): void {
    if (event.type === "peer_joined" && event.peer.name) {
      this.#names.set(event.peer.id, event.peer.name);
    } else if (event.type === "name_changed") this.#names.set(event.peer_id, event.name);
    else if (event.type === "message_sent") {
      if (event.to_name) this.#names.set(event.to_id, event.to_name);
      if (event.from_name) this.#names.set(event.from_id, event.from_name);
    }
  }

  /** "name (id)" or "id". */
  label(id: string, name?: string): string {
    return who(id, name ?? this.#names.get(id));
  }
}

/** One event as one line for a person, or null for the hello (said on stderr instead). */
export function eventLine(event: BrokerEvent, colours: Palette, names: NameBook): string | null {
  names.learn(event);
  const time = colours.dim(clock(event.at));
  switch (event.type) {
    case "hello":
      return null;
    case "peer_joined": {
      const { peer } = event;
      // One line however long the directory and branch are (a peer sets them).
      const branch = peer.branch ? ` [${headline(peer.branch, 40)}]` : "";
      const summary = peer.summary ? `  "${headline(peer.summary, 80)}"` : "";
      return `${time}  ${colours.green("+ joined   ")} ${names.label(peer.id, peer.name)}  ${
        truncateStart(terminalSafe(peer.cwd), 80)
      }${branch}${summary}`;
    }
    case "peer_left":
      return `${time}  ${colours.red("- left     ")} ${names.label(event.peer_id, event.name)}`;
    case "summary_changed":
      return `${time}  ${colours.yellow("~ summary  ")} ${
        names.label(event.peer_id, event.name)
      }: ${headline(event.summary, 100)}`;
    case "name_changed":
      return `${time}  ${colours.yellow("~ renamed  ")} ${
        event.previous ? `${terminalSafe(event.previous)} → ` : ""
      }${names.label(event.peer_id, event.name)}`;
    case "message_sent": {
      const from = event.from_kind === "cli"
        ? `${terminalSafe(event.from_id)} (cli)`
        : names.label(event.from_id, event.from_name);
      const thread = event.thread_id && event.thread_id !== event.message_id
        ? colours.dim(` [thread ${terminalSafe(event.thread_id)}]`)
        : "";
      const broadcast = event.broadcast ? colours.dim(` (${terminalSafe(event.broadcast)})`) : "";
      return `${time}  ${colours.cyan("→ message  ")} ${from} → ${
        names.label(event.to_id, event.to_name)
      }${broadcast}${thread}: ${headline(event.first_line)}`;
    }
    case "message_delivered":
      return `${time}  ${colours.green("✓ delivered")} ${names.label(event.from_id)} → ${
        names.label(event.to_id)
      } via ${event.via}${colours.dim(`  ${terminalSafe(event.message_id)}`)}`;
    case "lagged":
      return `${time}  ${
        colours.magenta("! lagged   ")
      } ${event.dropped} events dropped: this tail fell behind`;
  }
}
