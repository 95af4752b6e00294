/**
 * The floor of a process's memory here: `deno run` with claude-peers' V8 flags, running a
 * script that only waits. Measured beside the broker, the servers or a hook, it shows what any
 * Deno process holds before it loads a line of claude-peers.
 *
 * Run as a script, this module is that process.
 *
 * @module
 */
import { privateMb, residentMb } from "./process_stats.ts";
import { V8_FLAGS_ARG } from "../broker/spawn.ts";

/** Private and resident memory, in MB. */
export interface MemoryFigure {
  privateMb: number;
  rssMb: number;
}

/** A running bare process; disposal kills it. */
export interface BareProcess extends AsyncDisposable {
  memory: () => Promise<MemoryFigure>;
}

/** Starts the bare process: the same `deno run` and V8 flags, this file as the script. */
export function startBareProcess(): BareProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", V8_FLAGS_ARG, import.meta.filename!, "--wait"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    memory: async () => ({
      privateMb: await privateMb(child.pid),
      rssMb: await residentMb(child.pid),
    }),
    async [Symbol.asyncDispose]() {
      child.kill("SIGKILL");
      await child.status;
    },
  };
}

if (import.meta.main && Deno.args[0] === "--wait") setInterval(() => {}, 3_600_000);
