/**
 * How `log` and `tail` read for a person: what a peer wrote never reaches the terminal as
 * escape sequences or bidi overrides, coloured or not, and `--json` lines stay the same JSON.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { BrokerEvent, LogEntry } from "../broker/protocol.ts";
import { eventLine, jsonLine, logLine, NameBook, palette } from "../cli/observe_format.ts";

const HOSTILE = "a\x1b]0;pwned\x07b\u202Ec\u200Bd\x1b[2Je\u2028f";
const AT = "2026-12-01T10:00:00.000Z";

/** Every escape character in `line` starts one of our colour codes. */
function onlyOurColours(line: string): boolean {
  // deno-lint-ignore no-control-regex -- finding escape characters is the point
  return line.replace(/\x1b\[\d+m/g, "").match(/[\x1b\u202E\u200B\u2028\x07]/) === null;
}

const EVENTS: BrokerEvent[] = [
  {
    type: "peer_joined",
    at: AT,
    peer: {
      id: "aaaaaaaa",
      name: HOSTILE,
      cwd: `/src/${HOSTILE}`,
      repo: null,
      branch: HOSTILE,
      summary: HOSTILE,
    },
  },
  { type: "peer_left", at: AT, peer_id: "aaaaaaaa", name: HOSTILE },
  { type: "summary_changed", at: AT, peer_id: "aaaaaaaa", summary: HOSTILE },
  { type: "name_changed", at: AT, peer_id: "aaaaaaaa", name: HOSTILE, previous: HOSTILE },
  {
    type: "message_sent",
    at: AT,
    message_id: "m1",
    from_id: HOSTILE,
    from_kind: "cli",
    to_id: "aaaaaaaa",
    thread_id: HOSTILE,
    broadcast: HOSTILE,
    first_line: HOSTILE,
  },
  {
    type: "message_delivered",
    at: AT,
    message_id: "m1",
    from_id: "bbbbbbbb",
    to_id: "aaaaaaaa",
    via: "hook",
  },
  { type: "lagged", at: AT, dropped: 3 },
];

Deno.test("every tail line is terminal-safe, coloured or not", () => {
  for (const colour of [true, false]) {
    const names = new NameBook();
    for (const event of EVENTS) {
      const line = eventLine(event, palette(colour), names)!;
      assert.ok(onlyOurColours(line), `${event.type}: ${JSON.stringify(line)}`);
      assert.ok(!line.includes("\n"), `${event.type} is one line`);
      if (!colour) assert.ok(!line.includes("\x1b"), `${event.type} has no colour`);
    }
  }
  assert.equal(
    eventLine({ type: "hello", at: AT, version: "0" }, palette(false), new NameBook()),
    null,
  );
});

Deno.test("a tail line shows names it learned for events that carry only ids", () => {
  const names = new NameBook();
  eventLine(EVENTS[0]!, palette(false), names);
  const delivered = eventLine(EVENTS[5]!, palette(false), names)!;
  assert.match(delivered, /✓ delivered bbbbbbbb → a\\u\{1b\}.* \(aaaaaaaa\) via hook/);
});

Deno.test("a log entry is terminal-safe in both its short and its full form", () => {
  const entry: LogEntry = {
    id: "m1",
    to_id: "aaaaaaaa",
    from_id: "bbbbbbbb",
    from_name: `b${HOSTILE}`,
    from_kind: "peer",
    from_summary: "",
    from_cwd: "/",
    text: `${HOSTILE}\nsecond line`,
    sent_at: AT,
    thread_id: "m1",
    reply_to: null,
    broadcast: null,
    state: "delivered",
    state_at: AT,
    via: "channel",
  };
  for (const colour of [true, false]) {
    for (const full of [true, false]) {
      const text = logLine(entry, palette(colour), full);
      assert.ok(onlyOurColours(text), JSON.stringify(text));
      assert.equal(text.includes("second line"), full, `full=${full}`);
    }
  }
});

Deno.test("a --json line is the same JSON, with invisible characters escaped", () => {
  const value = { text: HOSTILE, emoji: "🙂", tag: "\u{E0041}" };
  const line = jsonLine(value);
  assert.deepEqual(JSON.parse(line), value);
  assert.match(line, /^[\x20-\x7e🙂]*$/u, line);
});

Deno.test("a joined line stays short however long the directory and branch a peer registered", () => {
  const event: BrokerEvent = {
    type: "peer_joined",
    at: AT,
    peer: {
      id: "k3x9ab12",
      name: "api",
      // The longest a registration may carry.
      cwd: `/${"d".repeat(4090)}/last`,
      repo: null,
      branch: "b".repeat(256),
      summary: "s".repeat(500),
    },
  };
  const line = eventLine(event, palette(false), new NameBook())!;
  assert.ok(line.length <= 260, `the line is ${line.length} characters`);
  assert.match(line, /…d+\/last \[b+…\]/, "the directory keeps its end, the branch its start");
});
