/**
 * CPU time and resident memory of processes, from /proc (Linux).
 *
 * @module
 */

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time (user + system) a process has used so far, in milliseconds. */
export async function cpuTimeMs(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of /proc/<pid>/stat (utime, stime), counted after the command name.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Resident set size of a process, in megabytes. */
export async function residentMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = status.match(/^VmRSS:\s+(\d+) kB$/m);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) / 1024;
}

/** CPU used by `pids` while `wait` runs, as a percentage of one core. */
export async function cpuPercentDuring(pids: number[], wait: () => Promise<void>): Promise<number> {
  const before = await Promise.all(pids.map(cpuTimeMs));
  const start = performance.now();
  await wait();
  const elapsed = performance.now() - start;
  const after = await Promise.all(pids.map(cpuTimeMs));
  const used = after.reduce((total, value, index) => total + value - before[index]!, 0);
  return (used / elapsed) * 100;
}

/** Private memory of a process (`Private_Clean + Private_Dirty`: shared with no other), in MB. */
export async function privateMb(pid: number): Promise<number> {
  const rollup = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
  const kb = (field: string) =>
    Number(rollup.match(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m"))?.[1]);
  return (kb("Private_Clean") + kb("Private_Dirty")) / 1024;
}
