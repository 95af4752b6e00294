/**
 * Identifier generation: peer ids, session credentials and sortable message ids.
 * Message ids sort in the order the broker accepted the messages, so an inbox range read
 * returns messages in send order. Web Crypto only: `node:crypto` would cost every process that
 * loads this ~3 MB of memory (issue 11).
 *
 * @module
 */
const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/** Random string of `length` characters from [0-9a-z]. */
export function randomId(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let id = "";
  for (const byte of bytes) id += ALPHABET[byte % ALPHABET.length];
  return id;
}

/** A fresh peer id. */
export function newPeerId(): string {
  return randomId(8);
}

/** A fresh session credential: 32 random bytes, hex. */
export function newSessionToken(): string {
  return randomHex(32);
}

/** SHA-256 of a credential, hex: the broker stores only this. */
export async function hashToken(token: string): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(token))));
}

/** `length` random bytes as lowercase hex. */
export function randomHex(length: number): string {
  return hex(crypto.getRandomValues(new Uint8Array(length)));
}

/** `bytes` as lowercase hex. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

const encoder = new TextEncoder();

/**
 * Makes message ids that sort by acceptance order: milliseconds since the epoch, then a
 * counter within the millisecond, then randomness so two broker lifetimes never collide.
 * A clock that steps back does not reorder ids: the last time used is kept.
 */
export class MessageIdGenerator {
  #lastTime = 0;
  #counter = 0;

  /** The time of the last id made, in ms since the epoch. */
  get lastTime(): number {
    return this.#lastTime;
  }

  /**
   * Makes every later id sort after every id whose time is at most `time`: how a new broker
   * continues the order of the one before it, even when the clock stepped back meanwhile.
   */
  raiseFloor(time: number): void {
    if (time < this.#lastTime) return;
    this.#lastTime = time + 1;
    this.#counter = -1;
  }

  /** The next id, greater than every id this generator made before. */
  next(now: number = Date.now()): string {
    if (now > this.#lastTime) {
      this.#lastTime = now;
      this.#counter = 0;
    } else {
      this.#counter++;
    }
    const time = this.#lastTime.toString(36).padStart(9, "0");
    const counter = this.#counter.toString(36).padStart(4, "0");
    return `${time}${counter}${randomId(4)}`;
  }
}
