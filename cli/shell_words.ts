/**
 * Turning an argument list into one shell command line and back, for the command hooks that
 * Claude Code runs through a shell (sh/bash on POSIX; Git Bash, else PowerShell, on Windows).
 * Pure: no I/O. It splits only what {@link shellQuote} writes (and plain hand-written
 * quoting); it expands nothing.
 *
 * @module
 */

/** Which quoting to use. */
export interface ShellOptions {
  /** The platform the command runs on. @default Deno.build.os */
  os?: typeof Deno.build.os;
}

/** Words that need no quoting in either shell. */
const PLAIN = /^[A-Za-z0-9_\/.,:=@%+-]+$/;
const PLAIN_WINDOWS = /^[A-Za-z0-9_\/\\.,:=@%+-]+$/;

/**
 * `args` as one command line: POSIX single quotes (`'` written as `'\''`) around each word
 * that needs them; on Windows, double quotes (which PowerShell also needs `&` before to run a
 * quoted program, so a program path with spaces runs under Git Bash only).
 */
export function shellQuote(args: readonly string[], options: ShellOptions = {}): string {
  const windows = (options.os ?? Deno.build.os) === "windows";
  return args.map((arg) => {
    if (windows) return PLAIN_WINDOWS.test(arg) ? arg : `"${arg.replaceAll('"', '\\"')}"`;
    return PLAIN.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
  }).join(" ");
}

/** The words of `command` (quotes removed), or null when a quote is left open. */
export function shellSplit(command: string, options: ShellOptions = {}): string[] | null {
  const windows = (options.os ?? Deno.build.os) === "windows";
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < command.length; i++) {
    const char = command[i]!;
    if (/\s/.test(char)) {
      if (word !== null) words.push(word);
      word = null;
      continue;
    }
    word ??= "";
    if (char === "'" && !windows) {
      const end = command.indexOf("'", i + 1);
      if (end < 0) return null;
      word += command.slice(i + 1, end);
      i = end;
    } else if (char === '"') {
      // Inside double quotes a backslash escapes only these (POSIX), or only `"` (Windows).
      const escapable = windows ? '"' : '"\\$`';
      for (i++; i < command.length && command[i] !== '"'; i++) {
        const next = command[i + 1];
        if (command[i] === "\\" && next !== undefined && escapable.includes(next)) i++;
        word += command[i];
      }
      if (i >= command.length) return null;
    } else if (char === "\\" && !windows) {
      if (i + 1 >= command.length) return null;
      word += command[++i];
    } else {
      word += char;
    }
  }
  if (word !== null) words.push(word);
  return words;
}
