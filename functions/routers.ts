// Which router serves each endpoint of the table (functions/endpoints.ts): the app that hosts every
// function reads it (app.ts). Each deployed entry (api/, netlify/) imports its one router itself, so no
// bundle holds every function.
import { alertsRouter } from "./alerts.js";
import { batchesRouter } from "./batches.js";
import { drainRouter } from "./drain.js";
import type { EndpointName } from "./endpoints.js";
import { enqueueRouter } from "./enqueue.js";
import type { RouterFactory } from "./http/create-app.js";
import { maintenanceRouter } from "./maintenance.js";
import { pausesRouter } from "./pauses.js";
import { processWebhookRouter } from "./process-webhook.js";
import { retryFailedRouter } from "./retry-failed.js";
import { searchRouter } from "./search.js";
import { statusRouter } from "./status.js";

export const ROUTERS: Readonly<Record<EndpointName, RouterFactory>> = {
  enqueue: enqueueRouter,
  "process-webhook": processWebhookRouter,
  drain: drainRouter,
  maintenance: maintenanceRouter,
  "retry-failed": retryFailedRouter,
  alerts: alertsRouter,
  batches: batchesRouter,
  search: searchRouter,
  status: statusRouter,
  pauses: pausesRouter,
};
