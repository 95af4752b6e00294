/**
 * claude-peers: one binary, dispatched on its subcommand to the broker, the MCP server or
 * the CLI. Dispatch only: each command lives in its own module.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname } from "node:path";
import { resolveConfig, VERSION } from "./broker/config.ts";
import { ensurePrivateDirectory } from "./broker/secret.ts";
import { errorMessage, log, logToFile, setLogPrefix } from "./broker/log.ts";
import { fail, print, UsageError } from "./cli/fail.ts";
import { BROKER_HELP, MAIN_HELP, MCP_HELP } from "./cli/usage.ts";
import { STATUS_HELP, statusCommand } from "./cli/status.ts";
import { PEERS_HELP, peersCommand } from "./cli/peers.ts";
import { SEND_HELP, sendCommand } from "./cli/send.ts";
import { KILL_BROKER_HELP, killBrokerCommand } from "./cli/kill_broker.ts";
import { INSTALL_HELP, installCommand, UNINSTALL_HELP, uninstallCommand } from "./cli/install.ts";
import { DOCTOR_HELP, doctorCommand } from "./cli/doctor.ts";

const HELP: Record<string, string> = {
  broker: BROKER_HELP,
  mcp: MCP_HELP,
  status: STATUS_HELP,
  peers: PEERS_HELP,
  send: SEND_HELP,
  "kill-broker": KILL_BROKER_HELP,
  install: INSTALL_HELP,
  uninstall: UNINSTALL_HELP,
  doctor: DOCTOR_HELP,
};

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined) throw new UsageError("missing command");
  if (command === "-h" || command === "--help" || command === "help") {
    print(MAIN_HELP);
    return 0;
  }
  if (command === "-V" || command === "--version") {
    print(`claude-peers ${VERSION}`);
    return 0;
  }
  const help = HELP[command];
  if (help === undefined) throw new UsageError(`unknown command "${command}"`);
  if (rest.includes("-h") || rest.includes("--help")) {
    print(help);
    return 0;
  }
  try {
    return await run(command, rest);
  } catch (error) {
    if (
      error instanceof TypeError && "code" in error &&
      String(error.code).startsWith("ERR_PARSE_ARGS")
    ) {
      throw new UsageError(error.message);
    }
    throw error;
  }
}

async function run(command: string, args: string[]): Promise<number> {
  const config = resolveConfig();
  switch (command) {
    case "broker":
      return await brokerCommand(args, config);
    case "mcp": {
      parseArgs({ args, options: {}, strict: true });
      // Loaded per mode: the broker never loads the MCP SDK, the MCP server never the broker.
      const { runMcp } = await import("./mcp/mod.ts");
      await runMcp(config);
      return 0;
    }
    case "status":
      parseArgs({ args, options: {}, strict: true });
      return await statusCommand(config);
    case "peers":
      return await peersCommand(args, config);
    case "send":
      return await sendCommand(args, config);
    case "kill-broker":
      parseArgs({ args, options: {}, strict: true });
      return await killBrokerCommand(config);
    case "install":
      return await installCommand(args, config);
    case "uninstall":
      return await uninstallCommand(args, config);
    case "doctor":
      parseArgs({ args, options: {}, strict: true });
      return await doctorCommand(config);
  }
  throw new UsageError(`unknown command "${command}"`);
}

async function brokerCommand(args: string[], config: ReturnType<typeof resolveConfig>) {
  const { values } = parseArgs({ args, options: { "log-file": { type: "string" } }, strict: true });
  setLogPrefix("claude-peers broker");
  if (values["log-file"]) {
    await ensurePrivateDirectory(dirname(values["log-file"]));
    logToFile(values["log-file"]);
    globalThis.addEventListener("unhandledrejection", (event) => {
      log(`unhandled rejection: ${errorMessage(event.reason)}`);
    });
    globalThis.addEventListener("error", (event) => log(`uncaught error: ${event.message}`));
  }
  const { runBroker } = await import("./broker/mod.ts");
  try {
    await runBroker(config);
  } catch (error) {
    log(errorMessage(error));
    throw error;
  }
  return 0;
}

if (import.meta.main) {
  const args = Deno.args;
  const command = args[0] ?? "";
  main(args).then((code) => Deno.exit(code), (error) => {
    const usage = HELP[command] ?? MAIN_HELP;
    fail(error, usage);
  });
}
