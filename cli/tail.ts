/**
 * `claude-peers tail`: the broker's live events as they happen, pushed over GET /events (no
 * polling, no timer on either side): sessions joining and leaving, summaries, messages sent
 * and delivered. One line per event for a person, coloured on a terminal (not with NO_COLOR);
 * `--json` writes the events as NDJSON. Ctrl-C ends it (exit 0), and so does its reader going
 * away (exit 0) or the broker stopping (exit 1, with a sentence on stderr).
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Config } from "../broker/config.ts";
import { BrokerClient, BrokerError } from "../broker/client.ts";
import { ensureBroker } from "../broker/spawn.ts";
import { printError } from "./fail.ts";
import { eventLine, jsonLine, NameBook, palette } from "./observe_format.ts";
import type { Command } from "./command.ts";

/** `claude-peers tail [--json]`. */
export const tailCommand: Command = {
  name: "tail",
  summary: "watch sessions and messages live (--json for NDJSON)",
  help: `Usage: claude-peers tail [--json]

Shows what happens on the broker as it happens, one line per event: sessions joining and
leaving (with name, directory, branch and summary), summaries changing, messages sent (sender
→ recipient, first line of the text, thread) and delivered (channel, hook or tool_result).
The broker pushes the events; a tail that falls behind is told how many it missed.

Options:
  --json   one JSON object per event (NDJSON), for scripts; the first is {"type":"hello"}

Exit codes: 0 after Ctrl-C or once the reader of its output has gone, 1 when the broker
stops or cannot be reached.`,
  run: runTail,
};

async function runTail(args: string[], config: Config): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: "boolean" } }, strict: true });
  await ensureBroker(config);
  const stop = new AbortController();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const onSignal = () => stop.abort();
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  const colours = palette(!values.json && Deno.stdout.isTerminal() && !config.noColor);
  const names = new NameBook();
  try {
    for await (const event of new BrokerClient(config).events(stop.signal)) {
      if (values.json) {
        await writeLine(jsonLine(event));
      } else if (event.type === "hello") {
        printError(
          `claude-peers tail: watching the broker on ${config.brokerUrl} (Ctrl-C to stop)`,
        );
      } else {
        const line = eventLine(event, colours, names);
        if (line !== null) await writeLine(line);
      }
    }
  } catch (error) {
    if (stop.signal.aborted) return 0;
    // Whoever read the output has gone (`tail --json | head -1`): nothing left to do.
    if (error instanceof Deno.errors.BrokenPipe) return 0;
    if (error instanceof BrokerError && error.code !== "unavailable") throw error;
    printError(`claude-peers tail: lost the broker on ${config.brokerUrl}; tail ends`);
    return 1;
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  }
  if (stop.signal.aborted) return 0;
  printError(`claude-peers tail: the broker on ${config.brokerUrl} stopped; tail ends`);
  return 1;
}

const encoder = new TextEncoder();

/**
 * Writes one line to stdout and waits until it is taken: a reader that is slow holds tail back
 * (and the broker then drops events for it, saying so), one that has gone ends it.
 */
async function writeLine(line: string): Promise<void> {
  const bytes = encoder.encode(`${line}\n`);
  for (let written = 0; written < bytes.length;) {
    written += await Deno.stdout.write(bytes.subarray(written));
  }
}
