// The status page a person reads at a glance: depth per lane, throughput, failures.
import { html } from "hono/html";
import { LANE_PRIORITIES, LANES, type Lane, laneFor } from "../qstash/lanes.js";
import type { SpendToday } from "../qstash/spend-ledger.js";
import { batchLine } from "./batch-status.js";
import { costLine } from "./cost-status.js";
import { modelSwitchLine } from "./model-switch.js";
import type { processorStatus, queueStatus } from "./read-status.js";
import type { Trends } from "./trends.js";
import { TRENDS_CSS, trendsSection } from "./trends-section.js";

/** Each lane as the page names it, with the priorities it takes (functions/qstash/lanes.ts). */
const NAMES: Record<Lane, string> = { immediate: "immediate", queued: "queued", database: "batched" };
const label = (lane: Lane) => {
  const { min, max } = LANE_PRIORITIES[lane];
  const range = max === LANE_PRIORITIES.database.max ? `${min}+` : min === LANE_PRIORITIES.immediate.min ? `≤${max}` : `${min}–${max}`;
  return `${NAMES[lane]} (${range})`;
};
const when = (at: unknown) => `${new Date(at as string).toISOString().replace("T", " ").slice(0, 19)} UTC`;

/** Today's QStash messages against the plan, and whether the lanes have fallen back to the drain until the day resets. */
function spendLine(spend: SpendToday) {
  const limit =
    spend.dailyLimit === null ? "no daily limit" : `of ${spend.dailyLimit} a day (${spend.scheduleReserve} kept for the schedules)`;
  return html`<p id="spend">QStash today: ${spend.publishRequests} published, ${spend.deliveries} delivered (${spend.retried} retries) ${limit}${
    spend.lanesOnDrain
      ? html` · <b class="bad">the lanes' share is spent: changes wait for the drain (at most five minutes) until the day resets at ${when(spend.resetsAt)}</b>`
      : ""
  }</p>`;
}

/** A run that threw failed; so did one that finished having failed every item it took. */
function runResult(run: { ok: boolean; summary: unknown }): { ok: boolean; text: string } {
  if (!run.ok) return { ok: false, text: "failed" };
  const { done, failed } = (run.summary ?? {}) as { done?: number; failed?: number };
  if (failed && !done) return { ok: false, text: `all ${failed} items failed` };
  return { ok: true, text: failed ? `ok (${failed} items failed)` : "ok" };
}

export function statusPage(
  queue: Awaited<ReturnType<typeof queueStatus>>,
  processor: Awaited<ReturnType<typeof processorStatus>>,
  trends?: Trends,
) {
  const lanes = new Map<string, Record<string, number>>(LANES.map((lane) => [label(lane), {}]));
  for (const row of queue.byStatusAndPriority) {
    const counts = lanes.get(label(laneFor(row.priority)))!;
    counts[row.status] = (counts[row.status] ?? 0) + row.count;
  }
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Embeddings status</title>
<style>body{font:15px system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.3rem .7rem;text-align:left}.bad{color:#b00020}.good{color:#1b7f3b}${TRENDS_CSS}</style></head>
<body><h1>Embeddings pipeline</h1>
<p>Database <b class="${processor.database.reachable ? "good" : "bad"}">${processor.database.reachable ? "reachable" : "unreachable"}</b>
 · QStash <b class="${processor.qstash.reachable ? "good" : "bad"}">${processor.qstash.configured ? (processor.qstash.reachable ? "reachable" : "unreachable") : "not configured"}</b>
 · ${processor.config.provider} / ${processor.config.model} (${processor.config.dimensions} dimensions) · strategy ${processor.config.strategy}</p>
${processor.spend ? spendLine(processor.spend) : ""}
${processor.cost ? costLine(processor.cost) : ""}
${queue.apiFailing ? html`<p id="api" class="bad">Embedding API failing: ${queue.apiFailing.error} (${when(queue.apiFailing.at)})</p>` : ""}
<h2>Queue by lane</h2>
<table id="lanes"><tr><th>Lane</th><th>Pending</th><th>Processing</th><th>Done</th><th>Failed</th></tr>
${[...lanes].map(([lane, counts]) => html`<tr><td>${lane}</td><td>${counts.pending ?? 0}</td><td>${counts.processing ?? 0}</td><td>${counts.done ?? 0}</td><td>${counts.failed ?? 0}</td></tr>`)}
</table>
<p>Oldest pending: <b id="oldest">${queue.oldestPendingSeconds == null ? "none" : `${queue.oldestPendingSeconds} s`}</b></p>
${modelSwitchLine(queue.modelSwitch)}
${batchLine(processor.lastRuns.batches)}
${queue.chunksOfAnotherModel ? html`<p id="reembedding">Re-embedding: ${queue.chunksOfAnotherModel} chunks are of another model</p>` : ""}
<h2>Last hour</h2>
<p id="throughput">${queue.lastHour.itemsDone} items done · ${queue.lastHour.chunksEmbedded} chunks embedded · ${queue.lastHour.itemsFailed} failed</p>
${trends ? trendsSection(trends) : ""}
<h2>Recent failures</h2>
<table id="failures"><tr><th>Item</th><th>Error</th><th>Attempts</th><th>When</th></tr>
${queue.recentErrors.map((e) => html`<tr><td>${e.contentType} ${e.contentId}</td><td class="bad">${e.error}</td><td>${e.attempts}</td><td>${when(e.at)}</td></tr>`)}
</table>
<h2>Scheduled runs</h2>
<table id="runs"><tr><th>Job</th><th>Last run</th><th>Result</th></tr>
${Object.entries(processor.lastRuns).map(([job, run]) => {
  const result = runResult(run);
  return html`<tr><td>${job}</td><td>${when(run.finishedAt)}</td><td class="${result.ok ? "good" : "bad"}">${result.text}</td></tr>`;
})}
</table></body></html>`;
}
