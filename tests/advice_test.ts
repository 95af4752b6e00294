/**
 * What the model reads when a tool fails: a send the broker did not answer may have been stored
 * all the same, so send_message warns against sending it again blindly; other tools keep the
 * general advice.
 *
 * @module
 */
import assert from "node:assert/strict";
import { adviseModel, SEND_ADVICE } from "../mcp/advice.ts";
import { BrokerError, BrokerUnavailableError } from "../broker/client.ts";

function textOf(error: unknown, own = {}): string {
  const result = adviseModel(error, own);
  assert.equal(result.isError, true);
  return (result.content[0] as { text: string }).text;
}

Deno.test("a send the broker did not answer is not simply to be tried again", () => {
  const silent = new BrokerUnavailableError("The broker on port 7899 is not answering");
  const send = textOf(silent, SEND_ADVICE);
  assert.match(send, /^The broker on port 7899 is not answering\. /);
  assert.match(send, /may have been queued all the same: call check_messages/);
  assert.doesNotMatch(send, /try again in a moment/);
  assert.match(textOf(silent), /try again in a moment/, "other tools keep the general advice");
  // Refusals the broker gave are advised as before: nothing was stored.
  const full = new BrokerError("queue_full", 429, "Peer is full");
  assert.equal(textOf(full, SEND_ADVICE), textOf(full));
});
