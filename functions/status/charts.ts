// Small inline SVG charts, drawn on the server with the page (no script, no CDN): a line chart per
// measure and span, and bars a day against a limit. Every text goes through hono's html template, so
// names and numbers are escaped; the geometry is numbers we compute. The viewBox scales to any width
// (a phone's, one chart a row).
import { html } from "hono/html";
import type { Lane } from "../qstash/lanes.js";
import type { DailySeries, Span } from "./trends.js";

type Piece = unknown;
export type Line = { label: string; color: string; values: (number | null)[]; dashed?: boolean };

const W = 320;
const H = 150;
const PLOT = { left: 40, right: 312, top: 12, bottom: 112 };
export const LANE_COLORS: Record<Lane, string> = { immediate: "#d9480f", queued: "#1971c2", database: "#2b8a3e" };

const round = (n: number) => Math.round(n * 10) / 10;
/** A round maximum for the axis: 1, 2 or 5 times a power of ten, at least the data's. */
function niceMax(max: number): number {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  return ([1, 2, 5, 10].find((m) => m * power >= max) ?? 10) * power;
}
// Money a day may be cents: below 1, two significant digits.
const compact = (n: number) =>
  n >= 1e6
    ? `${round(n / 1e6)}M`
    : n >= 1e4
      ? `${Math.round(n / 1e3)}k`
      : n > 0 && n < 1
        ? String(Number(n.toPrecision(2)))
        : String(round(n));
export const seconds = (ms: number) => (ms >= 60_000 ? `${round(ms / 60_000)} min` : `${round(ms / 1000)} s`);
const hourLabel = (at: number, days: boolean) =>
  days ? new Date(at).toISOString().slice(5, 10) : `${new Date(at).toISOString().slice(11, 16)}`;

function frame(id: string, title: string, body: Piece, legend: Piece, axis: { top: string; start: string; end: string }) {
  return html`<figure class="chart" id="${id}"><figcaption>${title}</figcaption>
<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${title}" xmlns="http://www.w3.org/2000/svg">
<line x1="${PLOT.left}" y1="${PLOT.bottom}" x2="${PLOT.right}" y2="${PLOT.bottom}" stroke="#999" stroke-width="1"/>
<line x1="${PLOT.left}" y1="${PLOT.top}" x2="${PLOT.left}" y2="${PLOT.bottom}" stroke="#999" stroke-width="1"/>
<line x1="${PLOT.left}" y1="${PLOT.top}" x2="${PLOT.right}" y2="${PLOT.top}" stroke="#eee" stroke-width="1"/>
<text x="${PLOT.left - 4}" y="${PLOT.top + 4}" text-anchor="end" font-size="10" fill="#555">${axis.top}</text>
<text x="${PLOT.left - 4}" y="${PLOT.bottom}" text-anchor="end" font-size="10" fill="#555">0</text>
<text x="${PLOT.left}" y="${PLOT.bottom + 13}" font-size="10" fill="#555">${axis.start}</text>
<text x="${PLOT.right}" y="${PLOT.bottom + 13}" text-anchor="end" font-size="10" fill="#555">${axis.end}</text>
${body}${legend}</svg></figure>`;
}

function legendOf(items: { label: string; color: string; dashed?: boolean }[]) {
  return items.map(
    (item, i) =>
      html`<line x1="${PLOT.left + i * 92}" y1="${H - 8}" x2="${PLOT.left + i * 92 + 14}" y2="${H - 8}" stroke="${item.color}" stroke-width="3"${item.dashed ? html` stroke-dasharray="4 2"` : ""}/><text x="${PLOT.left + i * 92 + 18}" y="${H - 4}" font-size="10" fill="#333">${item.label}</text>`,
  );
}

/** Lines over a span's steps; a run of known points is a polyline, a lone one a dot. */
export function lineChart(id: string, title: string, span: Span, lines: Line[], format: (n: number) => string = compact) {
  const max = niceMax(Math.max(0, ...lines.flatMap((l) => l.values.filter((v): v is number => v !== null))));
  const x = (i: number) => round(PLOT.left + ((i + 0.5) / span.steps) * (PLOT.right - PLOT.left));
  const y = (v: number) => round(PLOT.bottom - (v / max) * (PLOT.bottom - PLOT.top));
  const known = lines.some((l) => l.values.some((v) => v !== null));
  const body = known
    ? lines.map((line) => {
        const runs: [number, number][][] = [];
        let run: [number, number][] = [];
        line.values.forEach((v, i) => {
          if (v === null) {
            if (run.length) runs.push(run);
            run = [];
          } else run.push([x(i), y(v)]);
        });
        if (run.length) runs.push(run);
        return runs.map((r) =>
          r.length === 1
            ? html`<circle cx="${r[0]![0]}" cy="${r[0]![1]}" r="2.5" fill="${line.color}"/>`
            : html`<polyline fill="none" stroke="${line.color}" stroke-width="2"${line.dashed ? html` stroke-dasharray="4 2"` : ""} points="${r.map((p) => p.join(",")).join(" ")}"/>`,
        );
      })
    : html`<text x="${(PLOT.left + PLOT.right) / 2}" y="${(PLOT.top + PLOT.bottom) / 2}" text-anchor="middle" font-size="11" fill="#777">no data yet</text>`;
  const days = span.stepMs >= 3_600_000;
  return frame(id, title, body, legendOf(lines), {
    top: format(max),
    start: hourLabel(span.from, days),
    end: "now",
  });
}

/** Bars a UTC day, with the limit as a red line when there is one. */
export function dailyChart(id: string, series: DailySeries, color = "#5f3dc4") {
  const max = niceMax(Math.max(0, series.limit ?? 0, ...series.values));
  const width = (PLOT.right - PLOT.left) / series.values.length;
  const y = (v: number) => round(PLOT.bottom - (v / max) * (PLOT.bottom - PLOT.top));
  const bars = series.values.map(
    (v, i) =>
      html`<rect x="${round(PLOT.left + i * width + 2)}" y="${y(v)}" width="${round(width - 4)}" height="${round(PLOT.bottom - y(v))}" fill="${color}"><title>${series.days[i]}: ${v} ${series.unit}</title></rect>`,
  );
  const limit =
    series.limit === null
      ? ""
      : html`<line x1="${PLOT.left}" y1="${y(series.limit)}" x2="${PLOT.right}" y2="${y(series.limit)}" stroke="#c92a2a" stroke-width="1.5" stroke-dasharray="5 3"/>`;
  const legend = legendOf([
    { label: series.unit, color },
    ...(series.limit === null ? [] : [{ label: `limit ${compact(series.limit)}`, color: "#c92a2a", dashed: true }]),
  ]);
  return frame(id, series.title, html`${bars}${limit}`, legend, {
    top: compact(max),
    start: series.days[0]!.slice(5),
    end: "today",
  });
}
