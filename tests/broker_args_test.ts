/**
 * `claude-peers broker` reads its one option without node:util: `--log-file PATH` or
 * `--log-file=PATH`; anything else is a usage error that names it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseLogFile } from "../cli/broker.ts";
import { UsageError } from "../cli/fail.ts";

Deno.test("the broker command takes --log-file in both spellings, or nothing", () => {
  assert.equal(parseLogFile([]), undefined);
  assert.equal(parseLogFile(["--log-file", "/tmp/b.log"]), "/tmp/b.log");
  assert.equal(parseLogFile(["--log-file=/tmp/a b.log"]), "/tmp/a b.log");
  assert.equal(parseLogFile(["--log-file", "/x", "--log-file", "/y"]), "/y", "the last one counts");
});

Deno.test("the broker command refuses what it does not know, naming it", () => {
  const refuses = (args: string[], message: RegExp) =>
    assert.throws(
      () => parseLogFile(args),
      (error: unknown) => error instanceof UsageError && message.test(error.message),
    );
  refuses(["--log-file"], /--log-file needs a path/);
  refuses(["--log-file="], /--log-file needs a path/);
  refuses(["--log-file", "--verbose"], /--log-file needs a path/);
  refuses(["--verbose"], /unknown option "--verbose"/);
  refuses(["extra"], /unexpected argument "extra"/);
});
