/**
 * Bounded waits and platform facts for tests. Tests wait for a condition, never for a fixed
 * time.
 *
 * @module
 */

/** Polls `predicate` until it is true; fails with `what` after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `promise`'s outcome, or a failure naming `what` once `timeoutMs` have passed. */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the tests run on Windows, where POSIX signals and file modes do not exist. */
export const ON_WINDOWS = Deno.build.os === "windows";

/** A test name that states why it is skipped on Windows, when it is. */
export function posixTestName(name: string, reason = "needs POSIX signals"): string {
  return ON_WINDOWS ? `${name} [ignored on Windows: ${reason}]` : name;
}
