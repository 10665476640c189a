// Every function the pipeline deploys, in one table (ARCHITECTURE.md §3): its routes under BASE_PATH, who
// may call it, where it runs, its QStash schedule, and the router that serves it. The local app
// (app.ts), the edge build, the schedules and tests/endpoints.test.ts (every Vercel and Netlify entry
// agrees with it) read it. Code bundled for the edge names an endpoint by EndpointPath, a type: importing
// this table would put every function in every bundle.
import { alertsRouter } from "./alerts.js";
import { drainRouter } from "./drain.js";
import { enqueueRouter } from "./enqueue.js";
import type { RouterFactory } from "./lib/create-app.js";
import { maintenanceRouter } from "./maintenance.js";
import { processWebhookRouter } from "./process-webhook.js";
import { ALERTS_SCHEDULE, DRAIN_SCHEDULE, MAINTENANCE_SCHEDULE, RETRY_FAILED_SCHEDULE, type Schedule } from "./qstash/schedules.js";
import { retryFailedRouter } from "./retry-failed.js";
import { searchRouter } from "./search.js";
import { statusRouter } from "./status.js";

export { BASE_PATH, endpointUrl } from "./lib/endpoint-url.js";

/** Who may call: the app's webhook secret, QStash's signature, the search token (or anyone, when public), the admin token. */
export type Auth = "webhook-secret" | "qstash-signature" | "search-token" | "admin-token";

/**
 * Where it runs, on Vercel and on Netlify alike. The edge for short requests: an edge function must begin
 * its answer within 25 s (Vercel) and may spend 50 ms of CPU (Netlify). Node.js, with `maxDuration`
 * seconds (vercel.json; Netlify Functions stop at 60 s), for work that may take longer.
 */
export type Runtime = { kind: "edge" } | { kind: "node"; maxDuration: number };

export type Route = { method: "GET" | "POST"; path: string };

export type { Schedule };

export type Endpoint = { routes: readonly Route[]; auth: Auth; runtime: Runtime; schedule?: Schedule; router: RouterFactory };

const EDGE = { kind: "edge" } as const;
/** Each run's budget (DRAIN_BUDGET_MS, PROCESS_BUDGET_MS) stays 10 s under it. */
const NODE = { kind: "node", maxDuration: 60 } as const;

export const ENDPOINTS = {
  enqueue: { routes: [{ method: "POST", path: "enqueue" }], auth: "webhook-secret", runtime: EDGE, router: enqueueRouter },
  // Node.js: a doorbell's run answers after its batches, and decoding and writing vectors can take more
  // than 50 ms of CPU.
  "process-webhook": {
    routes: [{ method: "POST", path: "process-webhook" }],
    auth: "qstash-signature",
    runtime: NODE,
    router: processWebhookRouter,
  },
  // Node.js: a drain answers after its batches (DRAIN_BUDGET_MS). Its cron follows CHANGES_VIA
  // (functions/qstash/schedules.ts): a slow safety net where enqueue is called, every five minutes where
  // only the triggers see changes.
  drain: {
    routes: [{ method: "POST", path: "drain" }],
    auth: "qstash-signature",
    runtime: NODE,
    schedule: DRAIN_SCHEDULE,
    router: drainRouter,
  },
  // Node.js: its deletes and ANALYZE grow with the tables.
  maintenance: {
    routes: [{ method: "POST", path: "maintenance" }],
    auth: "qstash-signature",
    runtime: NODE,
    schedule: MAINTENANCE_SCHEDULE,
    router: maintenanceRouter,
  },
  // Node.js: it requeues every failed row at once, which grows with the failures.
  "retry-failed": {
    routes: [{ method: "POST", path: "retry-failed" }],
    auth: "qstash-signature",
    runtime: NODE,
    schedule: RETRY_FAILED_SCHEDULE,
    router: retryFailedRouter,
  },
  // Node.js, as maintenance: any Postgres, no WebSocket proxy. Scheduled only where ALERT_WEBHOOK_URL is set.
  alerts: {
    routes: [{ method: "POST", path: "alerts" }],
    auth: "qstash-signature",
    runtime: NODE,
    schedule: ALERTS_SCHEDULE,
    router: alertsRouter,
  },
  search: { routes: [{ method: "POST", path: "search" }], auth: "search-token", runtime: EDGE, router: searchRouter },
  status: {
    routes: [
      { method: "GET", path: "queue" },
      { method: "GET", path: "processor" },
      { method: "GET", path: "status" },
    ],
    auth: "admin-token",
    runtime: EDGE,
    router: statusRouter,
  },
} as const satisfies Record<string, Endpoint>;

export type EndpointName = keyof typeof ENDPOINTS;
export type EndpointPath = (typeof ENDPOINTS)[EndpointName]["routes"][number]["path"];

/** The table as a list, each entry with its name. */
export const ENDPOINT_LIST = Object.entries(ENDPOINTS).map(([name, endpoint]) => ({ name, ...endpoint })) as (Endpoint & {
  name: EndpointName;
  routes: readonly (Route & { path: EndpointPath })[];
})[];

/** Every route with the endpoint that serves it. */
export const ROUTES = ENDPOINT_LIST.flatMap((endpoint) => endpoint.routes.map((route) => ({ ...route, endpoint })));
