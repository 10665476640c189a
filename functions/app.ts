// Every function on one app, for servers that host them together (the local stack, the tests).
import { Hono } from "hono";
import type { Deps } from "./deps.js";
import { createDrainApp } from "./drain.js";
import { createEnqueueApp } from "./enqueue.js";
import { createMaintenanceApp } from "./maintenance.js";
import { createProcessWebhookApp } from "./process-webhook.js";
import { createRetryFailedApp } from "./retry-failed.js";
import { createSearchApp } from "./search.js";
import { createStatusApp } from "./status.js";

export const functionFactories = {
  enqueue: createEnqueueApp,
  "process-webhook": createProcessWebhookApp,
  drain: createDrainApp,
  maintenance: createMaintenanceApp,
  "retry-failed": createRetryFailedApp,
  search: createSearchApp,
  status: createStatusApp,
};

export function createAllFunctions(deps: Deps) {
  const app = new Hono();
  for (const create of Object.values(functionFactories)) app.route("/", create(deps));
  return app;
}
