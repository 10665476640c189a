// Every function the pipeline deploys, in one table of data (ARCHITECTURE.md §3): its routes under
// BASE_PATH, who may call it, where it runs and its QStash schedule. It imports nothing, so every layer,
// script and test may read it; which router serves each name is functions/routers.ts, read by the app.
// tests/endpoints.test.ts proves every Vercel and Netlify entry agrees with it.

/** Where the functions answer: the same paths locally, on Vercel and on Netlify. */
export const BASE_PATH = "/api/embeddings";

/** Who may call: the app's webhook secret, QStash's signature, the search token (or anyone, when public), the admin token. */
export type Auth = "webhook-secret" | "qstash-signature" | "search-token" | "admin-token";

/**
 * Where it runs, on Vercel and on Netlify alike. The edge for short requests: an edge function must begin
 * its answer within 25 s (Vercel) and may spend 50 ms of CPU (Netlify). Node.js, with `maxDuration`
 * seconds (vercel.json; Netlify Functions stop at 60 s), for work that may take longer.
 */
export type Runtime = { kind: "edge" } | { kind: "node"; maxDuration: number };

export type Route = { method: "GET" | "POST"; path: string };

/**
 * The drain's cron, fitted to how changes arrive (CHANGES_VIA): where `enqueue` is called, every change
 * rings its lane and the drain is a slow safety net for lost doorbells (48 a day); where only the
 * triggers see changes, the drain is the only route, and every five minutes keeps the batched promise
 * (288 a day).
 */
export const DRAIN_CRONS = { enqueue: "*/30 * * * *", triggers: "*/5 * * * *" } as const;

export type ChangesVia = keyof typeof DRAIN_CRONS;

/**
 * A QStash schedule: a fixed id (creating it again updates it), a cron, the variable that may replace the
 * cron, and (the drain) the cron fitted to each CHANGES_VIA. What they cost: functions/qstash/schedules.ts.
 */
export type Schedule = {
  scheduleId: string;
  cron: string;
  cronVariable?: string;
  fitted?: Readonly<Record<ChangesVia, string>>;
  /** A variable that must be set (not "false") for the schedule to exist: the alerts' webhook, the Batch API's switch. */
  requires?: string;
};

export type Endpoint = { routes: readonly Route[]; auth: Auth; runtime: Runtime; schedule?: Schedule };

const EDGE = { kind: "edge" } as const;
/** Each run's budget (DRAIN_BUDGET_MS, PROCESS_BUDGET_MS) stays 10 s under it. */
const NODE = { kind: "node", maxDuration: 60 } as const;

export const ENDPOINTS = {
  enqueue: { routes: [{ method: "POST", path: "enqueue" }], auth: "webhook-secret", runtime: EDGE },
  // Node.js: a doorbell's run answers after its batches, and decoding and writing vectors can take more
  // than 50 ms of CPU.
  "process-webhook": { routes: [{ method: "POST", path: "process-webhook" }], auth: "qstash-signature", runtime: NODE },
  // Node.js: a drain answers after its batches (DRAIN_BUDGET_MS). Its cron follows CHANGES_VIA
  // (DRAIN_CRONS): a slow safety net where enqueue is called, every five minutes where only the
  // triggers see changes.
  drain: {
    routes: [{ method: "POST", path: "drain" }],
    auth: "qstash-signature",
    runtime: NODE,
    schedule: { scheduleId: "embeddings-drain", cron: DRAIN_CRONS.triggers, cronVariable: "DRAIN_CRON", fitted: DRAIN_CRONS },
  },
  // Node.js: its deletes and ANALYZE grow with the tables.
  maintenance: {
    routes: [{ method: "POST", path: "maintenance" }],
    auth: "qstash-signature",
    runtime: NODE,
    schedule: { scheduleId: "embeddings-maintenance", cron: "0 2 * * *" },
  },
  // Node.js: it requeues every failed row at once, which grows with the failures.
  "retry-failed": {
    routes: [{ method: "POST", path: "retry-failed" }],
    auth: "qstash-signature",
    runtime: NODE,
    schedule: { scheduleId: "embeddings-retry-failed", cron: "0 3 * * 0" },
  },
  // Node.js, as maintenance: any Postgres, no WebSocket proxy. Scheduled only where ALERT_WEBHOOK_URL is
  // set; every minute, or every ten below 20,000 messages a day (alertCron, functions/qstash/schedules.ts).
  alerts: {
    routes: [{ method: "POST", path: "alerts" }],
    auth: "qstash-signature",
    runtime: NODE,
    schedule: { scheduleId: "embeddings-alerts", cron: "* * * * *", cronVariable: "ALERT_CRON", requires: "ALERT_WEBHOOK_URL" },
  },
  // Node.js: it reads a batch's output file and stores its vectors. Scheduled only where
  // EMBEDDING_BATCH_API=true; every ten minutes (OpenAI's batches take minutes to hours).
  batches: {
    routes: [{ method: "POST", path: "batches" }],
    auth: "qstash-signature",
    runtime: NODE,
    schedule: { scheduleId: "embeddings-batches", cron: "*/10 * * * *", requires: "EMBEDDING_BATCH_API" },
  },
  search: { routes: [{ method: "POST", path: "search" }], auth: "search-token", runtime: EDGE },
  status: {
    routes: [
      { method: "GET", path: "queue" },
      { method: "GET", path: "processor" },
      { method: "GET", path: "status" },
    ],
    auth: "admin-token",
    runtime: EDGE,
  },
  // Pause and resume a lane or content type (functions/pauses.ts).
  pauses: {
    routes: [
      { method: "POST", path: "pause" },
      { method: "POST", path: "resume" },
    ],
    auth: "admin-token",
    runtime: EDGE,
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

/** A function's address on a site, e.g. for QStash to deliver to. */
export const endpointUrl = (siteUrl: string, path: EndpointPath) => `${siteUrl}${BASE_PATH}/${path}`;
