// POST /api/embeddings/alerts (QStash schedule, only where ALERT_WEBHOOK_URL is set; every minute, or
// every ten on a plan under 20,000 messages a day: functions/qstash/schedules.ts): evaluates the alerts
// (functions/status/alerts.ts) and keeps the status page's trends rolled up. Cheap: a handful of
// index probes and, on a change of state, one message.

import { recordRun } from "./db/job-runs.js";
import type { Deps } from "./deps.js";
import { requireQStashSignature } from "./http/auth.js";
import { createRouter, type Router, Status } from "./http/create-app.js";
import { oncePerSignature } from "./http/replay-guard.js";
import { deliveryBooked } from "./qstash/spend-ledger.js";
import { evaluateAlerts } from "./status/alerts.js";
import { rollUp } from "./status/trends.js";

export async function checkAlerts(deps: Deps) {
  const now = (deps.clock ?? Date).now();
  const rolledUp = await rollUp(deps.db, now);
  const { sent, firing } = await evaluateAlerts(deps, now);
  return { rolledUp, sent: sent.map((m) => m.key), firing };
}

export function alertsRouter(deps: Deps): Router {
  return createRouter().post(
    "/alerts",
    requireQStashSignature(deps.config),
    deliveryBooked(deps.db, deps.clock),
    oncePerSignature(deps.db, "alerts"),
    async (c) => c.json(await recordRun(deps.db, "alerts", () => checkAlerts(deps)), Status.ok),
  );
}
