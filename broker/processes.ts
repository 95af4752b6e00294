/**
 * Facts about other processes, through `ps`: Deno lets only fully privileged programs read
 * another process's /proc entries, so this works the same on Linux and macOS. Windows has no
 * `ps`: every answer there is "unknown" (null), and a process counts as running.
 *
 * @module
 */

/** One `ps -o <format>` field of process `pid`, or null when unknown. */
export async function ps(pid: number, format: string): Promise<string | null> {
  if (Deno.build.os === "windows") return null;
  try {
    const output = await new Deno.Command("ps", {
      args: ["-o", format, "-p", String(pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(output.stdout).trim();
    return output.success && text ? text : null;
  } catch {
    return null;
  }
}

/** Whether process `pid` exists (true where that cannot be told). */
export async function isRunning(pid: number): Promise<boolean> {
  if (Deno.build.os === "windows") return true;
  return await ps(pid, "pid=") !== null;
}
