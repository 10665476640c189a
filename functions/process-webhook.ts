// POST /api/embeddings/process-webhook (QStash delivery): a lane's doorbell, the one kind of message.
// The run claims the lane's pending rows, processes and settles them as the drain does, serves the lane
// while rows keep coming, and hands it over with one message or lets it go (ARCHITECTURE.md §1, §6).
import type * as v from "valibot";
import { DoorbellSchema } from "../schema/messages.js";
import type { Deps } from "./deps.js";
import { drain } from "./drain.js";
import { requireQStashSignature } from "./http/auth.js";
import { createRouter, type Router, Status } from "./http/create-app.js";
import { BadRequestError } from "./lib/errors.js";
import { parseBody } from "./lib/validate.js";
import { deliveryBooked } from "./qstash/spend-ledger.js";

export function processWebhookRouter(deps: Deps): Router {
  return createRouter().post("/process-webhook", requireQStashSignature(deps.config), deliveryBooked(deps.db, deps.clock), async (c) => {
    let doorbell: v.InferOutput<typeof DoorbellSchema>;
    try {
      doorbell = parseBody(DoorbellSchema, c.get("rawBody"));
    } catch (error) {
      // A signed body of the wrong shape will be as wrong on every retry.
      if (error instanceof BadRequestError) return nonRetryable({ error: error.message });
      throw error;
    }
    const { doorbell: lane, batchSize } = doorbell;
    const signatureId = c.get("signature").id;
    return c.json(await drain(deps, { lane, batchSize, signatureId, budgetMs: deps.config.process.budgetMs }), Status.ok);
  });
}

/**
 * QStash's answer for "do not retry": "respond with a 489 status code and include the header
 * Upstash-NonRetryable-Error: true" (https://upstash.com/docs/qstash/features/retry). The message goes to
 * the DLQ at once, without a retry billed.
 */
function nonRetryable(body: { error: string } & Record<string, unknown>) {
  // Hono's typed statuses stop at the registered codes; 489 is QStash's own.
  return new Response(JSON.stringify(body), {
    status: 489,
    headers: { "content-type": "application/json", "Upstash-NonRetryable-Error": "true" },
  });
}
