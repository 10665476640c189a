// Every function the pipeline deploys, in one table (ARCHITECTURE.md §3): its routes under BASE_PATH, who
// may call it, where it runs, its QStash schedule, and the router that serves it. The local app
// (app.ts), the edge build, the schedules and tests/endpoints.test.ts (every Vercel and Netlify entry
// agrees with it) read it. Code bundled for the edge names an endpoint by EndpointPath, a type: importing
// this table would put every function in every bundle.
import { drainRouter } from "./drain.js";
import { enqueueRouter } from "./enqueue.js";
import type { RouterFactory } from "./lib/create-app.js";
import { maintenanceRouter } from "./maintenance.js";
import { processWebhookRouter } from "./process-webhook.js";
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

/** A QStash schedule: a fixed id (creating it again updates it), a cron, and the variable that may replace the cron. */
export type Schedule = { scheduleId: string; cron: string; cronVariable?: string };

export type Endpoint = { routes: readonly Route[]; auth: Auth; runtime: Runtime; schedule?: Schedule; router: RouterFactory };

const EDGE = { kind: "edge" } as const;
/** Each run's budget (DRAIN_BUDGET_MS, PROCESS_BUDGET_MS) stays 10 s under it. */
const NODE = { kind: "node", maxDuration: 60 } as const;

export const ENDPOINTS = {
  enqueue: { routes: [{ method: "POST", path: "enqueue" }], auth: "webhook-secret", runtime: EDGE, router: enqueueRouter },
  // Node.js: a delivery answers after its embedding, and decoding and writing its vectors can take more
  // than 50 ms of CPU. The failure callback shares the app.
  "process-webhook": {
    routes: [
      { method: "POST", path: "process-webhook" },
      { method: "POST", path: "process-webhook/failed" },
    ],
    auth: "qstash-signature",
    runtime: NODE,
    router: processWebhookRouter,
  },
  // Node.js: a drain answers after its batches (DRAIN_BUDGET_MS). Its schedule is the safety net for
  // lost doorbells and the only route where no webhook calls enqueue: every 4 minutes is 360 messages a
  // day, so the batched lane's five minutes hold within the Free plan's 1,000, with room for the lanes'.
  drain: {
    routes: [{ method: "POST", path: "drain" }],
    auth: "qstash-signature",
    runtime: NODE,
    schedule: { scheduleId: "embeddings-drain", cron: "*/4 * * * *", cronVariable: "DRAIN_CRON" },
    router: drainRouter,
  },
  // Node.js: its deletes and ANALYZE grow with the tables.
  maintenance: {
    routes: [{ method: "POST", path: "maintenance" }],
    auth: "qstash-signature",
    runtime: NODE,
    schedule: { scheduleId: "embeddings-maintenance", cron: "0 2 * * *" },
    router: maintenanceRouter,
  },
  // Node.js: it requeues every failed row at once, which grows with the failures.
  "retry-failed": {
    routes: [{ method: "POST", path: "retry-failed" }],
    auth: "qstash-signature",
    runtime: NODE,
    schedule: { scheduleId: "embeddings-retry-failed", cron: "0 3 * * 0" },
    router: retryFailedRouter,
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
