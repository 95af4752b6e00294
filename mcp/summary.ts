/**
 * The auto-summary: with an OpenAI key, one or two sentences on what this session is about,
 * from its directory, branch and recently changed files. Runs in the background; a failure
 * is logged with its reason and never delays or breaks the server.
 *
 * @module
 */
import type { Config } from "../broker/config.ts";
import { errorMessage, log } from "../broker/log.ts";
import { git } from "../broker/git.ts";
import type { SessionContext } from "./context.ts";
import type { ToolContext } from "./tools/context.ts";

/** Sets the generated summary in the background, unless the model has set one by then. */
export function startAutoSummary(config: Config, ctx: ToolContext): void {
  generateSummary(config, ctx.session).then(async (summary) => {
    if (ctx.summarySetByModel) return;
    await ctx.connection.setSummary({ summary });
    log(`auto-summary set: ${summary}`);
  }).catch((error) => log(`auto-summary failed: ${errorMessage(error)}`));
}

/** Asks the model for a summary of the session's likely work; throws with the reason. */
export async function generateSummary(config: Config, session: SessionContext): Promise<string> {
  if (!config.openaiApiKey) throw new Error("OPENAI_API_KEY is not set");
  // Loaded only when needed: the SDK is large and most sessions never use it.
  const { default: OpenAI } = await import("openai");
  const client = new OpenAI({
    apiKey: config.openaiApiKey,
    ...(config.openaiBaseUrl ? { baseURL: config.openaiBaseUrl } : {}),
    timeout: 20_000,
    maxRetries: 1,
  });
  const [status, recent] = await Promise.all([
    git(session.cwd, ["status", "--porcelain"]),
    git(session.cwd, ["log", "-n", "5", "--name-only", "--format="]),
  ]);
  const changed = [...new Set([...(status ?? "").split("\n"), ...(recent ?? "").split("\n")])]
    .map((line) => line.trim()).filter((line) => line !== "").slice(0, 30);
  const facts = [
    `Working directory: ${session.cwd}`,
    `Git branch: ${session.branch ?? "(none)"}`,
    `Recently changed files:\n${changed.join("\n") || "(none)"}`,
  ].join("\n");
  const completion = await client.chat.completions.create({
    model: config.summaryModel,
    max_tokens: 120,
    messages: [
      {
        role: "system",
        content:
          "You describe in one or two short sentences what a developer is probably working on, from their directory, git branch and changed files. No preamble.",
      },
      { role: "user", content: facts },
    ],
  });
  const summary = completion.choices[0]?.message?.content?.trim();
  if (!summary) throw new Error("the model returned no text");
  return summary.slice(0, 500);
}
