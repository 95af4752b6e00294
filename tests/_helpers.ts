/**
 * The test harness, shared by the tests, `bench/` and `.ci/smoke.ts`: disposable temp
 * environments, real broker, MCP server and CLI processes, and bounded waits. Every fixture
 * is disposed with `await using`; none leaves a process or a file behind. With
 * CLAUDE_PEERS_BIN set (or `bin` given), every process is that binary instead of
 * `deno run main.ts`. The in-process broker layer is in `_fixtures/in_process.ts`.
 *
 * @module
 */
export {
  claudePeersCommand,
  createTempDir,
  createTestEnv,
  freePort,
  type TempDir,
  type TestEnv,
  type TestEnvOptions,
} from "./_fixtures/env.ts";
export { type BrokerSite, processesStartedWith, stopEveryBroker } from "./_fixtures/stop.ts";
export {
  brokerCommand,
  type BrokerProcess,
  startBroker,
  type StartBrokerOptions,
} from "./_fixtures/broker.ts";
export {
  closeAll,
  type McpPeer,
  type McpPeers,
  type ReceivedChannel,
  spawnAll,
  type SpawnAllOptions,
  spawnMcp,
  type SpawnMcpOptions,
} from "./_fixtures/mcp.ts";
export { type CliResult, runCli } from "./_fixtures/cli.ts";
export { startTail, type TailProcess } from "./_fixtures/tail.ts";
export { git } from "./_fixtures/git.ts";
export { spawnHook } from "./_fixtures/hook.ts";
export { ON_WINDOWS, posixTestName, waitFor, within } from "./_fixtures/wait.ts";
