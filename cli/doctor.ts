/**
 * `claude-peers doctor`: checks the set-up and explains each problem with a fix. It never
 * runs `claude mcp list/get` (they start the servers they check, and so a broker), nor a hook.
 *
 * @module
 */
import { type Config, VERSION } from "../broker/config.ts";
import { BrokerClient, BrokerError, BrokerUnavailableError } from "../broker/client.ts";
import { selfInvocation } from "../broker/spawn.ts";
import { readGitFacts } from "../broker/git.ts";
import { portOwner } from "../broker/processes.ts";
import {
  ClaudeNotFoundError,
  claudeVersion,
  findRegistrations,
  versionAtLeast,
} from "./claude_code.ts";
import { print } from "./fail.ts";
import { terminalSafeLines } from "./terminal_safe.ts";
import { type Check, missingExecutable, type Outcome } from "./doctor_check.ts";
import { checkHooks } from "./doctor_hooks.ts";
import { type Command, parseNoArguments } from "./command.ts";

/** `claude-peers doctor`. */
export const doctorCommand: Command = {
  name: "doctor",
  summary: "check the set-up and explain how to fix problems",
  help: `Usage: claude-peers doctor

Checks claude-peers, its Claude Code registration and its hooks, says how a new session
will get messages, and how to fix what is wrong. Exits 1 when a check fails (warnings alone
exit 0).`,
  run: runDoctor,
};

/** Claude Code versions before this one have no channels. */
export const CHANNELS_SINCE = "2.1.80";

const MARK: Record<Outcome, string> = { ok: "✔", warn: "!", fail: "✘" };

async function runDoctor(args: string[], config: Config): Promise<number> {
  await parseNoArguments(args);
  const checks: Check[] = [
    {
      outcome: "ok",
      text: `claude-peers ${VERSION} (${
        Deno.build.standalone ? "binary" : "deno run"
      }: ${Deno.execPath()})`,
    },
    await checkBroker(config),
    ...await checkFiles(config),
    ...await checkClaude(config),
    ...await checkHooks(config, Deno.cwd()),
  ];
  for (const check of checks) {
    // A check may quote what a repository's settings file says: shown, never acted on.
    print(`${MARK[check.outcome]} ${terminalSafeLines(check.text)}`);
    if (check.fix) print(`    fix: ${terminalSafeLines(check.fix)}`);
  }
  const failed = checks.filter((check) => check.outcome === "fail").length;
  print(
    failed === 0 ? "\nNo problems found." : `\n${failed} problem${failed === 1 ? "" : "s"} found.`,
  );
  return failed === 0 ? 0 : 1;
}

async function checkBroker(config: Config): Promise<Check> {
  const client = new BrokerClient(config);
  try {
    const health = await client.health();
    await client.status();
    if (health.version !== VERSION) {
      return {
        outcome: "warn",
        text: `broker on ${config.brokerUrl} runs version ${health.version}, this is ${VERSION}`,
        fix: `run "claude-peers kill-broker"; the next session starts the new version`,
      };
    }
    return {
      outcome: "ok",
      text: `broker running on ${config.brokerUrl} (version ${health.version})`,
    };
  } catch (error) {
    if (error instanceof BrokerUnavailableError) {
      return {
        outcome: "warn",
        text:
          `no broker on ${config.brokerUrl} (it starts when a session or "claude-peers peers" needs it)`,
      };
    }
    if (error instanceof BrokerError && error.code === "impostor") {
      const owner = await portOwner(config.port);
      return {
        outcome: "fail",
        text: `port ${config.port} is held by a program that cannot prove it is your broker${
          owner ? `, run by ${owner}` : ""
        }: claude-peers sends it nothing`,
        fix:
          "stop that program (or ask its owner to), or set CLAUDE_PEERS_PORT (also in the Claude Code registration's environment)",
      };
    }
    if (error instanceof BrokerError && error.code === "unauthorized") {
      return {
        outcome: "fail",
        text: `the broker on port ${config.port} refuses this user's secret (${config.secretPath})`,
        fix:
          `another user's broker holds the port, or the secret changed: set CLAUDE_PEERS_PORT, or run "claude-peers kill-broker" as its owner`,
      };
    }
    const owner = await portOwner(config.port);
    return {
      outcome: "fail",
      text: `port ${config.port} is held by a program that is not a claude-peers broker${
        owner ? ` (run by ${owner})` : ""
      }`,
      fix:
        "stop that program or set CLAUDE_PEERS_PORT (also in the Claude Code registration's environment)",
    };
  }
}

async function checkFiles(config: Config): Promise<Check[]> {
  if (Deno.build.os === "windows") return [];
  const expectations: [string, number][] = [
    [config.stateDir, 0o700],
    [config.secretPath, 0o600],
    [config.dbPath, 0o600],
    [config.logPath, 0o600],
  ];
  const checks: Check[] = [];
  for (const [path, wanted] of expectations) {
    const stat = await Deno.stat(path).catch(() => null);
    if (!stat) continue;
    const mode = (stat.mode ?? 0) & 0o777;
    checks.push(
      mode & ~wanted
        ? {
          outcome: "fail",
          text: `${path} has mode ${mode.toString(8)}: others can read it`,
          fix: `chmod ${wanted.toString(8)} "${path}"`,
        }
        : { outcome: "ok", text: `${path} is private (${mode.toString(8)})` },
    );
  }
  return checks;
}

async function checkClaude(config: Config): Promise<Check[]> {
  const checks: Check[] = [];
  try {
    const version = await claudeVersion(config);
    checks.push(
      versionAtLeast(version, CHANNELS_SINCE)
        ? { outcome: "ok", text: `Claude Code ${version} (channels supported)` }
        : {
          outcome: "warn",
          text:
            `Claude Code ${version} has no channels (they need ${CHANNELS_SINCE} or later); messages arrive through check_messages`,
          fix: "update Claude Code: claude update",
        },
    );
  } catch (error) {
    checks.push({
      outcome: "fail",
      text: error instanceof ClaudeNotFoundError
        ? error.message
        : `Claude Code: ${(error as Error).message}`,
      fix: "install Claude Code: npm install -g @anthropic-ai/claude-code",
    });
  }
  const cwd = Deno.cwd();
  const { repo } = await readGitFacts(cwd, { readFiles: !config.gitRelocated });
  const registrations = await findRegistrations(config, cwd, repo);
  if (registrations.length === 0) {
    checks.push({
      outcome: "fail",
      text: "claude-peers is not registered with Claude Code",
      fix: `run "claude-peers install"`,
    });
    return checks;
  }
  const wanted = selfInvocation(["mcp"]);
  for (const registration of registrations) {
    const line = [registration.command, ...registration.args].join(" ");
    const missing = await missingExecutable(
      registration.command,
      registration.args,
      config.searchPath,
    );
    if (missing) {
      checks.push({
        outcome: "fail",
        text:
          `registered (${registration.scope} scope, ${registration.file}) with a command that cannot run: ${missing}`,
        fix: `run "claude-peers install${
          registration.scope === "project" ? " --scope project" : ""
        }" to register this binary`,
      });
      continue;
    }
    const current = registration.command === wanted.command;
    checks.push({
      outcome: "ok",
      text: `registered (${registration.scope} scope): ${line}${
        current ? "" : " (not this binary)"
      }`,
    });
  }
  return checks;
}
