// Every function on one app, for servers that host them together (the local stack, the tests).
import { Hono } from "hono";
import type { Deps } from "./deps";
import { createDrainApp } from "./drain";
import { createEnqueueApp } from "./enqueue";
import { createMaintenanceApp } from "./maintenance";
import { createProcessWebhookApp } from "./process-webhook";
import { createRetryFailedApp } from "./retry-failed";
import { createSearchApp } from "./search";
import { createStatusApp } from "./status";

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
