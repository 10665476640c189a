// The Batch API's last run as the status page shows it (ARCHITECTURE.md §14 "Batch API"): what it sent and
// stored, how long its store gave way to the live lanes (live first), and what it left for the next poll.
import { html } from "hono/html";
import type { BatchPoll } from "../batch/settle.js";

/** The batches function's summary (functions/batches.ts), as job_runs keeps it. */
type BatchesSummary = { polled?: Partial<BatchPoll>[]; submitted?: { rows?: number }[] };

const sum = <T>(list: T[], of: (x: T) => number | undefined) => list.reduce((total, x) => total + (of(x) ?? 0), 0);

/** One paragraph on the last run of the batches function; nothing when it never ran or found nothing to do. */
export function batchLine(run: { summary: unknown } | undefined) {
  const summary = run?.summary as BatchesSummary | undefined;
  const polled = summary?.polled ?? [];
  const sent = summary?.submitted ?? [];
  if (polled.length === 0 && sent.length === 0) return "";
  const left = sum(polled, (p) => p.left);
  const waited = sum(polled, (p) => p.yieldedMs) / 1000;
  return html`<p id="batch-api">Batch API, last run: ${sent.length} batches sent (${sum(sent, (s) => s.rows)} rows) · ${polled.length} polled, ${sum(
    polled,
    (p) => p.stored,
  )} rows stored${left ? `, ${left} left for the next run` : ""} · live first: the store waited ${waited.toFixed(1)} s for the live lanes</p>`;
}
