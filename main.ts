/**
 * claude-peers: one binary, dispatched on its subcommand to the broker, the MCP server or
 * the CLI. Dispatch only, from the command table in cli/mod.ts: each command lives in its
 * own module, and the broker's and MCP server's code load only when their command runs.
 *
 * @module
 */
import { resolveConfig, VERSION } from "./broker/config.ts";
import { fail, print, UsageError } from "./cli/fail.ts";
import type { Command } from "./cli/command.ts";

/**
 * The command called `name`. `hook` runs on every wake of every session and waits for hours,
 * so it is loaded on its own, without the table (and every other command's code); so are
 * `mcp`, whose start-up Claude Code waits for (the table costs it ~15 ms), `broker`, which runs
 * all day and would otherwise hold every command's code, and `tail`, which a person starts to
 * watch at once.
 */
async function findCommand(name: string): Promise<Command | undefined> {
  if (name === "mcp") return (await import("./cli/mcp.ts")).mcpCommand;
  if (name === "broker") return (await import("./cli/broker.ts")).brokerCommand;
  if (name === "hook") return (await import("./cli/hook.ts")).hookCommand;
  if (name === "tail") return (await import("./cli/tail.ts")).tailCommand;
  return (await import("./cli/mod.ts")).findCommand(name);
}

async function mainHelp(): Promise<string> {
  const { COMMANDS, mainHelp } = await import("./cli/mod.ts");
  return mainHelp(COMMANDS);
}

async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined) throw new UsageError("missing command");
  if (name === "-h" || name === "--help" || name === "help") {
    print(await mainHelp());
    return 0;
  }
  if (name === "-V" || name === "--version") {
    print(`claude-peers ${VERSION}`);
    return 0;
  }
  const command = await findCommand(name);
  if (command === undefined) throw new UsageError(`unknown command "${name}"`);
  if (rest.includes("-h") || rest.includes("--help")) {
    print(command.help);
    return 0;
  }
  try {
    return await command.run(rest, resolveConfig());
  } catch (error) {
    // node:util parseArgs throws a TypeError with an ERR_PARSE_ARGS_* code.
    if (
      error instanceof TypeError && "code" in error &&
      String(error.code).startsWith("ERR_PARSE_ARGS")
    ) {
      throw new UsageError(error.message);
    }
    throw error;
  }
}

if (import.meta.main) {
  const args = Deno.args;
  main(args).then((code) => Deno.exit(code), async (error) => {
    const usage = (await findCommand(args[0] ?? "").catch(() => undefined))?.help ??
      await mainHelp();
    fail(error, usage);
  });
}
