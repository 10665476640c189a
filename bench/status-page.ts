// The status page at size (issue 25's target): 1,000,000 queue rows (400,000 of them a backlog across
// the lanes, the rest settled over the 7 days done rows are kept) and 30 days of history (job runs,
// QStash spend, the trends' rollup as if never pruned). Times the exact counts, GET queue (JSON) and GET
// status (HTML) through the status function, p50 and p95, after the first read (which rolls up 7 days).
import { performance } from "node:perf_hooks";
import { createFunctionApp } from "../functions/app";
import { loadConfig } from "../functions/config";
import type { Deps } from "../functions/deps";
import { localEmbedder } from "../functions/embedders/local";
import { queueCounts } from "../functions/status/queue-counts";
import { processorStatus, queueStatus } from "../functions/status/read-status";
import { readTrends } from "../functions/status/trends";
import { createRegistry } from "../schema/registry";
import { openBenchDatabase } from "./bench-database";

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function timed(runs: number, f: () => Promise<unknown>) {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await f();
    ms.push(performance.now() - start);
  }
  return { p50: Math.round(percentile(ms, 0.5) * 10) / 10, p95: Math.round(percentile(ms, 0.95) * 10) / 10 };
}

export async function statusPageAtSize(rows = 1_000_000, runs = 40) {
  const db = await openBenchDatabase();
  try {
    const backlog = Math.round(rows * 0.4);
    const load = performance.now();
    // Through the triggers, as the pipeline writes them: the counts' deltas are appended by the same statements.
    await db.query(
      `INSERT INTO embedding_queue (content_type, content_id, priority, status, created_at, updated_at, last_error)
       SELECT 'post', 'b' || i, (ARRAY[1, 2, 4, 5, 9])[1 + i % 5], CASE WHEN i % 400 = 0 THEN 'processing' ELSE 'pending' END,
         now() - (i % 3600) * interval '1 second', now(), NULL
       FROM generate_series(1, $1::int) i`,
      [backlog],
    );
    await db.query(
      `INSERT INTO embedding_queue (content_type, content_id, priority, status, created_at, updated_at, last_error)
       SELECT 'post', 's' || i, (ARRAY[1, 2, 4, 5, 9])[1 + i % 5], CASE WHEN i % 100 = 0 THEN 'failed' ELSE 'done' END,
         now() - (i::float8 / $1) * interval '7 days' - (1 + i % 90) * interval '1 second', now() - (i::float8 / $1) * interval '7 days',
         CASE WHEN i % 100 = 0 THEN 'embedding API answered 400' END
       FROM generate_series(1, $1::int) i`,
      [rows - backlog],
    );
    await db.query(
      `INSERT INTO job_runs (job, ok, summary, started_at, finished_at)
       SELECT (ARRAY['drain', 'maintenance', 'retry-failed', 'alerts'])[1 + i % 4], true, '{"done": 10}', now() - i * interval '5 minutes', now() - i * interval '5 minutes'
       FROM generate_series(1, 30 * 288) i`,
    );
    await db.query(
      `INSERT INTO qstash_spend (day, publish_requests, deliveries) SELECT current_date - i, 500 + i, 400 FROM generate_series(0, 29) i`,
    );
    await db.query(
      `INSERT INTO status_rollup (bucket, lane, done, failed, latency, backlog)
       SELECT date_bin('5 minutes', now() - i * interval '5 minutes', TIMESTAMPTZ 'epoch'), lane, 100, 1, array_fill(0, ARRAY[5]) || ARRAY[20, 60, 15, 5] || array_fill(0, ARRAY[19]), 50
       FROM generate_series(1, 30 * 288) i, unnest(ARRAY['immediate', 'queued', 'database']) lane`,
    );
    await db.query("ANALYZE");
    const loadSeconds = (performance.now() - load) / 1000;
    const config = loadConfig({ ADMIN_TOKEN: "bench-admin", SITE_URL: "http://localhost:3000" });
    const deps: Deps = { db: db.db, config, registry: createRegistry(), embedder: localEmbedder(1536) };
    const app = createFunctionApp("status", deps);
    const get = async (path: string) => {
      const response = await app.request(`/api/embeddings/${path}`, { headers: { authorization: "Bearer bench-admin" } });
      if (response.status !== 200) throw new Error(`${path} answered ${response.status}`);
      await response.text();
    };
    const countStarStart = performance.now();
    const exact = await db.query<{ n: string }>("SELECT count(*) AS n FROM embedding_queue");
    const countStarMs = performance.now() - countStarStart;
    const counted = (await queueCounts(db.db)).reduce((n, c) => n + c.count, 0);
    if (counted !== Number(exact[0]!.n)) throw new Error(`queue_counts says ${counted}, count(*) ${exact[0]!.n}`);
    const firstRead = performance.now();
    await get("status");
    const firstReadMs = performance.now() - firstRead;
    return {
      rows,
      backlog,
      loadSeconds: Math.round(loadSeconds),
      countStarMs: Math.round(countStarMs),
      firstReadMs: Math.round(firstReadMs),
      counts: await timed(runs * 2, () => queueCounts(db.db)),
      queueJson: await timed(runs, () => get("queue")),
      statusHtml: await timed(runs, () => get("status")),
      // Where a page's time goes: the three reads the page is composed of.
      parts: {
        queue: await timed(runs / 2, () => queueStatus(deps)),
        processor: await timed(runs / 2, () => processorStatus(deps)),
        trends: await timed(runs / 2, () => readTrends(db.db, config, Date.now())),
      },
    };
  } finally {
    await db.close();
  }
}
