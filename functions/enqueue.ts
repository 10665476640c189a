// POST /api/embeddings/enqueue: database webhooks and the app report row changes here.
import type { Deps } from "./deps";
import { parseChanges } from "./enqueue/changes";
import { routeChanges } from "./enqueue/route-changes";
import { requireSecret } from "./lib/auth";
import { createApp, Status } from "./lib/create-app";
import { parseJson } from "./lib/validate";

export function createEnqueueApp(deps: Deps) {
  return createApp().post("/enqueue", requireSecret(deps.config.webhookSecret, "WEBHOOK_SECRET"), async (c) => {
    const items = await routeChanges(deps, parseChanges(deps.registry, parseJson(await c.req.text())));
    return c.json({ accepted: items.filter((i) => i.lane !== "skipped").length, items }, Status.accepted);
  });
}
