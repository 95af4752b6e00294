/**
 * The command table: every subcommand of claude-peers, in the order the main help lists
 * them. main.ts dispatches from it and nothing else; each command lives in its own file.
 * The broker and MCP commands load their server code on run, so this table never does.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { mcpCommand } from "./mcp.ts";
import { brokerCommand } from "./broker.ts";
import { statusCommand } from "./status.ts";
import { peersCommand } from "./peers.ts";
import { sendCommand } from "./send.ts";
import { nameCommand } from "./name.ts";
import { logCommand } from "./log.ts";
import { tailCommand } from "./tail.ts";
import { killBrokerCommand } from "./kill_broker.ts";
import { installCommand, uninstallCommand } from "./install.ts";
import { doctorCommand } from "./doctor.ts";
import { hookCommand } from "./hook.ts";

export type { Command } from "./command.ts";
export { mainHelp } from "./usage.ts";

/** Every command, in help order. */
export const COMMANDS: readonly Command[] = [
  mcpCommand,
  brokerCommand,
  statusCommand,
  peersCommand,
  sendCommand,
  nameCommand,
  logCommand,
  tailCommand,
  killBrokerCommand,
  installCommand,
  uninstallCommand,
  doctorCommand,
  hookCommand,
];

/** The command called `name`, or undefined. */
export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((command) => command.name === name);
}
