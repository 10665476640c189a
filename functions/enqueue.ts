// POST /api/embeddings/enqueue: database webhooks and the app report row changes here.
import type { Deps } from "./deps.js";
import { parseChanges } from "./enqueue/changes.js";
import { routeChanges } from "./enqueue/route-changes.js";
import { requireSecret } from "./http/auth.js";
import { createRouter, type Router, Status } from "./http/create-app.js";
import { parseJson } from "./lib/validate.js";

export function enqueueRouter(deps: Deps): Router {
  return createRouter().post("/enqueue", requireSecret(deps.config.webhookSecret, "WEBHOOK_SECRET"), async (c) => {
    const items = await routeChanges(deps, parseChanges(deps.registry, parseJson(await c.req.text())), (deps.clock ?? Date).now());
    return c.json({ accepted: items.filter((i) => i.lane !== "skipped").length, items }, Status.accepted);
  });
}
