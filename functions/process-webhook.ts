// POST /api/embeddings/process-webhook (QStash delivery) and its failure callback.
import { FailureCallbackSchema, ProcessMessageSchema } from "../schema/messages.js";
import { processItems } from "./core/process.js";
import type { Deps } from "./deps.js";
import { withBudget } from "./embedders/embedder.js";
import { startRun } from "./lib/budget.js";
import { requireQStashSignature } from "./lib/auth.js";
import { createApp, Status } from "./lib/create-app.js";
import { BadRequestError, errorMessage, PermanentError } from "./lib/errors.js";
import { parseBody } from "./lib/validate.js";
import { recordFailed } from "./queue/failures.js";

export function createProcessWebhookApp(deps: Deps) {
  const verified = requireQStashSignature(deps.config);
  return createApp()
    .post("/process-webhook", verified, async (c) => {
      const items = parseBody(ProcessMessageSchema, c.get("rawBody"));
      // Out of time, the run answers 503 before the platform's limit, and QStash delivers again.
      const { work } = startRun(deps.config.process.budgetMs, deps.clock);
      try {
        const { failed, ...counts } = await processItems({ ...deps, embedder: withBudget(deps.embedder, work) }, items);
        await recordFailed(deps.db, deps.registry, failed, "webhook");
        return c.json({ ...counts, failed: failed.length }, Status.ok);
      } catch (error) {
        // A retry cannot fix it: record it where a person sees it, and stop QStash retrying.
        if (!(error instanceof PermanentError)) throw error;
        await recordFailed(deps.db, deps.registry, items.map((i) => ({ ...i, error: error.message })), "webhook");
        return c.json({ items: items.length, failed: items.length, error: error.message }, Status.ok);
      }
    })
    .post("/process-webhook/failed", verified, async (c) => {
      const callback = parseBody(FailureCallbackSchema, c.get("rawBody"));
      const items = parseBody(ProcessMessageSchema, decodeBase64(callback.sourceBody));
      // Postgres text cannot hold NUL: an answer with one would never be recorded.
      const answer = callback.body ? decodeBase64(callback.body).slice(0, 300).replaceAll("\u0000", "\uFFFD") : "";
      const error = `QStash gave up after ${callback.retried ?? 0} retries; last answer ${callback.status || "none"}${answer ? `: ${answer}` : ""}`;
      await recordFailed(deps.db, deps.registry, items.map((i) => ({ ...i, error })), "webhook");
      return c.json({ recorded: items.length }, Status.ok);
    });
}

function decodeBase64(text: string): string {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0)));
  } catch (error) {
    throw new BadRequestError(`callback body is not base64: ${errorMessage(error)}`);
  }
}
