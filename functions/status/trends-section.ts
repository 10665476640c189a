// The trends as the status page shows them: per span (24 hours, 7 days), a chart per measure with a
// line per lane, then the daily series (QStash messages against the plan's limit, and whatever else
// trends.ts's DAILY_SOURCES lists).
import { html } from "hono/html";
import { LANES } from "../qstash/lanes.js";
import { dailyChart, LANE_COLORS, type Line, lineChart, seconds } from "./charts.js";
import type { LaneSeries, Trends } from "./trends.js";

/** Trends' CSS, for the page's <style>: charts side by side on a wide screen, one a row on a phone. */
export const TRENDS_CSS =
  ".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:1rem}" +
  ".chart{margin:0;border:1px solid #ddd;border-radius:4px;padding:.4rem;background:#fff}.chart svg{width:100%;height:auto;display:block}" +
  ".chart figcaption{font-size:13px;font-weight:600;margin-bottom:.2rem}";

const NAMES = { immediate: "immediate", queued: "queued", database: "batched" } as const;
const perLane = (measure: (s: LaneSeries) => (number | null)[], lanes: Trends["spans"][number]["lanes"]): Line[] =>
  LANES.map((lane) => ({ label: NAMES[lane], color: LANE_COLORS[lane], values: measure(lanes[lane]) }));

export function trendsSection(trends: Trends) {
  return html`<h2>Trends</h2>
${trends.spans.map((span) => {
  const label = span.name === "24h" ? "last 24 hours" : "last 7 days";
  const latency = LANES.flatMap((lane) => [{ label: NAMES[lane], color: LANE_COLORS[lane], values: span.lanes[lane].p95 }]);
  const median = LANES.map((lane) => ({ label: NAMES[lane], color: LANE_COLORS[lane], values: span.lanes[lane].p50, dashed: true }));
  return html`<h3>${label[0]!.toUpperCase()}${label.slice(1)}</h3><div class="charts">
${lineChart(
  `backlog-${span.name}`,
  `Backlog per lane, ${label}`,
  span,
  perLane((s) => s.backlog, span.lanes),
)}
${lineChart(`latency-p95-${span.name}`, `Change → searchable p95, ${label}`, span, latency, seconds)}
${lineChart(`latency-p50-${span.name}`, `Change → searchable p50, ${label}`, span, median, seconds)}
${lineChart(
  `done-${span.name}`,
  `Items embedded, ${label}`,
  span,
  perLane((s) => s.done, span.lanes),
)}
${lineChart(
  `failed-${span.name}`,
  `Failures, ${label}`,
  span,
  perLane((s) => s.failed, span.lanes),
)}
</div>`;
})}
<h3>By day</h3><div class="charts">${trends.daily.map((series) => dailyChart(`daily-${series.id}`, series))}</div>`;
}
