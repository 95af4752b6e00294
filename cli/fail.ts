/**
 * The CLI's one exit path for errors, and its output helpers. Only main.ts and cli/ exit
 * the process.
 *
 * @module
 */

/** A mistake on the command line: exit code 2 with the usage. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Prints one line to stdout. */
export function print(text: string): void {
  // deno-lint-ignore no-console
  console.log(text);
}

/** Prints one line to stderr. */
export function printError(text: string): void {
  // deno-lint-ignore no-console
  console.error(text);
}

/** Reports `error` on stderr and exits: 2 for usage errors (with `usage`), 1 otherwise. */
export function fail(error: unknown, usage?: string): never {
  const message = error instanceof Error ? error.message : String(error);
  printError(`claude-peers: ${message}`);
  if (error instanceof UsageError) {
    if (usage) printError(`\n${usage}`);
    Deno.exit(2);
  }
  Deno.exit(1);
}
