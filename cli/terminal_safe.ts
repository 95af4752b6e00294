/**
 * Text from elsewhere (peers, a repository's files, error messages quoting them) made safe to
 * print on a terminal. Small and without imports: every command's error path loads it.
 *
 * @module
 */

/**
 * `text` safe to print on a terminal: control characters (escape sequences that clear the
 * screen, set the title or write the clipboard), bidi overrides, zero-width characters and
 * line separators are shown as `\u{…}` instead of acting.
 */
export function terminalSafe(text: string): string {
  return text.replace(
    /[\p{Cc}\p{Cf}\u2028\u2029]/gu,
    (char) => `\\u{${char.codePointAt(0)!.toString(16)}}`,
  );
}

/**
 * `value` as JSON that is safe on a terminal too: DEL, C1 controls (an 8-bit CSI acts like
 * ESC [ on some terminals), bidi and zero-width characters and line separators become `\u`
 * escapes, which JSON.stringify leaves raw. The JSON value is the same.
 */
export function terminalSafeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\p{Cf}\u2028\u2029]/gu,
    (char) =>
      Array.from(
        { length: char.length },
        (_, i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`,
      ).join(""),
  );
}

/** {@link terminalSafe} line by line: the line breaks of `text` stay, every other control is shown. */
export function terminalSafeLines(text: string): string {
  return text.split("\n").map(terminalSafe).join("\n");
}
