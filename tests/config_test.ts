/**
 * resolveConfig(): the environment, read strictly.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parentPath, resolveConfig } from "../broker/config.ts";

function configOf(env: Record<string, string>) {
  return resolveConfig({ get: (name) => ({ HOME: "/home/u", ...env })[name] });
}

Deno.test("a port is written in decimal digits, or refused with the value quoted", () => {
  assert.equal(configOf({ CLAUDE_PEERS_PORT: "7900" }).port, 7900);
  for (const raw of ["0x1ED3", "1e3", " 7900", "7900.0", "-1", "65536", "0"]) {
    assert.throws(
      () => configOf({ CLAUDE_PEERS_PORT: raw }),
      new RegExp(`Invalid CLAUDE_PEERS_PORT "${raw.replace(/[.+]/g, "\\$&")}"`),
      raw,
    );
  }
});

Deno.test("the Claude Code session and pid come from Claude Code's variables, when well formed", () => {
  const inside = configOf({ CLAUDE_CODE_SESSION_ID: "3f2a9c1e-0000-4000", CLAUDE_PID: "4242" });
  assert.equal(inside.claudeSessionId, "3f2a9c1e-0000-4000");
  assert.equal(inside.claudePid, 4242);
  const odd = configOf({ CLAUDE_CODE_SESSION_ID: "../../etc", CLAUDE_PID: "1" });
  assert.equal(odd.claudeSessionId, undefined);
  assert.equal(odd.claudePid, undefined);
});

Deno.test("the history keeps 7 days or 10,000 messages unless told, and 0 turns it off", () => {
  const defaults = configOf({});
  assert.equal(defaults.historyMs, 7 * 86_400_000);
  assert.equal(defaults.historyMax, 10_000);
  assert.equal(configOf({ CLAUDE_PEERS_HISTORY_DAYS: "0" }).historyMs, 0);
  assert.equal(configOf({ CLAUDE_PEERS_HISTORY_MAX: "0" }).historyMax, 0);
  assert.throws(
    () => configOf({ CLAUDE_PEERS_HISTORY_MAX: "-1" }),
    /CLAUDE_PEERS_HISTORY_MAX "-1"/,
  );
  assert.throws(() => configOf({ CLAUDE_PEERS_HISTORY_DAYS: "1.5" }), /HISTORY_DAYS "1.5"/);
});

Deno.test("a retention in milliseconds wins over hours, and NO_COLOR counts when not empty", () => {
  assert.equal(configOf({}).retentionMs, 24 * 3_600_000);
  const short = configOf({ CLAUDE_PEERS_RETENTION_MS: "3000", CLAUDE_PEERS_RETENTION_HOURS: "5" });
  assert.equal(short.retentionMs, 3_000);
  assert.throws(() => configOf({ CLAUDE_PEERS_RETENTION_MS: "10" }), /RETENTION_MS "10"/);
  assert.equal(configOf({}).noColor, false);
  assert.equal(configOf({ NO_COLOR: "" }).noColor, false);
  assert.equal(configOf({ NO_COLOR: "1" }).noColor, true);
});

Deno.test("the database sits in HOME and its folder, secret and log beside it", () => {
  const sep = Deno.build.os === "windows" ? "\\" : "/";
  const home = configOf({});
  assert.equal(home.dbPath, `/home/u${sep}.claude-peers.db`);
  assert.equal(home.stateDir, `/home/u${sep}.claude-peers.db.d`);
  assert.equal(home.secretPath, `/home/u${sep}.claude-peers.db.d${sep}secret`);
  assert.equal(home.logPath, `/home/u${sep}.claude-peers.db.d${sep}broker.log`);
  const chosen = configOf({ CLAUDE_PEERS_DB: "/tmp/x/peers.db", HOME: "/home/u/" });
  assert.equal(chosen.stateDir, "/tmp/x/peers.db.d");
  assert.equal(chosen.secretPath, `/tmp/x/peers.db.d${sep}secret`);
  assert.equal(configOf({ HOME: "/home/u/" }).dbPath, "/home/u/.claude-peers.db");
});

Deno.test("GIT_DIR and the other variables that move git's repository are noticed", () => {
  assert.equal(configOf({}).gitRelocated, false);
  assert.equal(configOf({ GIT_EDITOR: "true", GIT_DIR: "" }).gitRelocated, false);
  for (const name of ["GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES", "GIT_CONFIG_COUNT"]) {
    assert.equal(configOf({ [name]: "/x" }).gitRelocated, true, name);
  }
});

Deno.test("parentPath is the directory a path lies in", () => {
  assert.equal(parentPath("/home/me/.claude-peers/broker.log"), "/home/me/.claude-peers");
  assert.equal(parentPath("/broker.log"), "/");
  assert.equal(parentPath("broker.log"), ".");
  assert.equal(parentPath("logs/broker.log"), "logs");
});
