// POST /api/embeddings/process-webhook (QStash delivery) and its failure callback.
import { decodeBase64Text } from "./lib/base64.js";
import type * as v from "valibot";
import { FailureCallbackSchema, ProcessRequestSchema } from "../schema/messages.js";
import { processItems } from "./core/process.js";
import type { Deps } from "./deps.js";
import { drain } from "./drain.js";
import { withBudget } from "./embedders/embedder.js";
import { startRun } from "./lib/budget.js";
import { requireQStashSignature } from "./lib/auth.js";
import { createRouter, type Router, Status } from "./lib/create-app.js";
import { BadRequestError, errorMessage, PermanentError } from "./lib/errors.js";
import { parseBody } from "./lib/validate.js";
import { recordFailed } from "./queue/index.js";

export function processWebhookRouter(deps: Deps): Router {
  const verified = requireQStashSignature(deps.config);
  return createRouter()
    .post("/process-webhook", verified, async (c) => {
      let request: v.InferOutput<typeof ProcessRequestSchema>;
      try {
        request = parseBody(ProcessRequestSchema, c.get("rawBody"));
      } catch (error) {
        // A signed body of the wrong shape will be as wrong on every retry.
        if (error instanceof BadRequestError) return nonRetryable({ error: error.message });
        throw error;
      }
      if (!Array.isArray(request)) {
        // A doorbell: the lane's pending rows, claimed, processed and settled as the drain does, within
        // process-webhook's budget.
        const { doorbell: lane, batchSize } = request;
        const signatureId = c.get("signature").id;
        return c.json(await drain(deps, { lane, batchSize, signatureId, budgetMs: deps.config.process.budgetMs }), Status.ok);
      }
      const items = request;
      // Out of time, the run answers 503 before the platform's limit, and QStash delivers again.
      const { work } = startRun(deps.config.process.budgetMs, deps.clock);
      try {
        const { failed, ...counts } = await processItems({ ...deps, embedder: withBudget(deps.embedder, work) }, items);
        // Items refused for good are recorded as failed, and the delivery is done: 200, nothing to retry.
        await recordFailed(deps.db, deps.registry, failed, "webhook");
        return c.json({ ...counts, failed: failed.length }, Status.ok);
      } catch (error) {
        // A retry cannot fix it: record it where a person sees it, and stop QStash retrying.
        if (!(error instanceof PermanentError)) throw error;
        await recordFailed(
          deps.db,
          deps.registry,
          items.map((i) => ({ ...i, error: error.message })),
          "webhook",
        );
        return nonRetryable({ items: items.length, failed: items.length, error: error.message });
      }
    })
    .post("/process-webhook/failed", verified, async (c) => {
      const callback = parseBody(FailureCallbackSchema, c.get("rawBody"));
      // Our own 489: the items (if the body had any) were recorded when it was answered.
      if (callback.status === 489) return c.json({ recorded: 0 }, Status.ok);
      const source = parseBody(ProcessRequestSchema, decodeBase64(callback.sourceBody));
      // A lost doorbell loses nothing: its rows stay queued, and the drain's schedule takes them.
      if (!Array.isArray(source)) return c.json({ recorded: 0 }, Status.ok);
      const items = source;
      // Postgres text cannot hold NUL: an answer with one would never be recorded.
      const answer = callback.body ? decodeBase64(callback.body).slice(0, 300).replaceAll("\u0000", "\uFFFD") : "";
      const error = `QStash gave up after ${callback.retried ?? 0} retries; last answer ${callback.status || "none"}${answer ? `: ${answer}` : ""}`;
      await recordFailed(
        deps.db,
        deps.registry,
        items.map((i) => ({ ...i, error })),
        "webhook",
      );
      return c.json({ recorded: items.length }, Status.ok);
    });
}

/**
 * QStash's answer for "do not retry": "respond with a 489 status code and include the header
 * Upstash-NonRetryable-Error: true" (https://upstash.com/docs/qstash/features/retry). The message goes to
 * the DLQ at once, without a retry billed; its failure callback still comes.
 */
function nonRetryable(body: { error: string } & Record<string, unknown>) {
  // Hono's typed statuses stop at the registered codes; 489 is QStash's own.
  return new Response(JSON.stringify(body), {
    status: 489,
    headers: { "content-type": "application/json", "Upstash-NonRetryable-Error": "true" },
  });
}

function decodeBase64(text: string): string {
  try {
    return decodeBase64Text(text);
  } catch (error) {
    throw new BadRequestError(`callback body is not base64: ${errorMessage(error)}`);
  }
}
