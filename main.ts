/**
 * claude-peers: one binary, dispatched on its subcommand to the broker, the MCP server or
 * the CLI. Dispatch only, from the command table in cli/mod.ts: each command lives in its
 * own module, and the broker's and MCP server's code load only when their command runs.
 *
 * @module
 */
import { resolveConfig, VERSION } from "./broker/config.ts";
import { fail, print, UsageError } from "./cli/fail.ts";
import { COMMANDS, findCommand, mainHelp } from "./cli/mod.ts";

async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined) throw new UsageError("missing command");
  if (name === "-h" || name === "--help" || name === "help") {
    print(mainHelp(COMMANDS));
    return 0;
  }
  if (name === "-V" || name === "--version") {
    print(`claude-peers ${VERSION}`);
    return 0;
  }
  const command = findCommand(name);
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
  main(args).then((code) => Deno.exit(code), (error) => {
    const usage = findCommand(args[0] ?? "")?.help ?? mainHelp(COMMANDS);
    fail(error, usage);
  });
}
