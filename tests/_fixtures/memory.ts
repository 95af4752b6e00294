/**
 * Resident memory of a process started by a test, sampled from outside as `ps` reports it
 * (tests run under the program's permission set, which cannot read /proc directly).
 *
 * @module
 */

/** Resident set size of `pid`, in megabytes. */
export async function residentMb(pid: number): Promise<number> {
  const output = await new Deno.Command("ps", {
    args: ["-o", "rss=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  const kb = Number(new TextDecoder().decode(output.stdout).trim());
  if (!output.success || !Number.isFinite(kb) || kb <= 0) {
    throw new Error(`Cannot read the resident memory of pid ${pid}`);
  }
  return kb / 1024;
}

/** A running sample of a process's resident memory. */
export interface ResidentSampler {
  /** The highest figure so far, in MB. */
  peak: () => number;
  /** Stops sampling; resolves to the peak, a last sample included. */
  stop: () => Promise<number>;
}

/** Samples the resident memory of `pid` every `everyMs` until stopped (at most `maxMs`). */
export function sampleResident(pid: number, everyMs = 100, maxMs = 10 * 60_000): ResidentSampler {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    const deadline = Date.now() + maxMs;
    while (running && Date.now() < deadline) {
      peak = Math.max(peak, await residentMb(pid));
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    peak: () => peak,
    stop: async () => {
      running = false;
      await loop;
      return Math.max(peak, await residentMb(pid));
    },
  };
}
