/**
 * The URL of the broker's HTTP hook (`POST /hook/context?token=T`) as settings.json holds it:
 * spelling it, telling ours apart, reading its port and token back, and printing it without
 * the token. Pure string work: it never reads the secret.
 *
 * @module
 */

const OUR_URL = /^http:\/\/(127\.0\.0\.1|localhost):\d+\/hook\/context(\?|$)/;

/** The URL of the broker's HTTP hook on `port`, carrying `token` (`hookToken(secret)`). */
export function hookContextUrl(port: number, token: string): string {
  return `http://127.0.0.1:${port}/hook/context?token=${encodeURIComponent(token)}`;
}

/** The port and token of one of our hook URLs, or null when `url` is not one. */
export function parseHookUrl(url: string): { port: number; token: string } | null {
  if (!isHookUrl(url)) return null;
  const parsed = new URL(url);
  return { port: Number(parsed.port || 80), token: parsed.searchParams.get("token") ?? "" };
}

/** `url` fit to print: the token cut to its first characters. */
export function redactHookUrl(url: string): string {
  return url.replace(/([?&]token=)([^&]{6})[^&]*/, "$1$2…");
}

/**
 * Whether `url` is one of ours: a loopback `/hook/context` on any port with any query, so
 * that a changed port or token replaces the old entry instead of adding a second.
 */
export function isHookUrl(url: string): boolean {
  return OUR_URL.test(url);
}
