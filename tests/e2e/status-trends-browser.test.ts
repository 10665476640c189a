// The status page's trend charts in a real headless Chromium (Debian's; .ci/run installs it): each chart
// is screenshot on its own and the picture must hold coloured pixels (the series' strokes and bars;
// axes and labels are grey), so an empty or broken chart fails. Chromium itself decodes the screenshots.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { utcDay } from "../../functions/lib/utc-day";
import { lineChart } from "../../functions/status/charts";
import { embeddingQueue, embeddingSpend, qstashSpend } from "../../schema";
import { startTestStack, type TestStack } from "../support/stack";
import { tempFolder } from "../support/temp-folder";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium`);

// The full-page screenshots, for README's picture: STATUS_SCREENSHOTS=docs names where; a temporary folder otherwise.
const SHOTS = process.env.STATUS_SCREENSHOTS ?? tempFolder("status-shots");
let stack: TestStack;
let browser: Browser;
beforeAll(async () => {
  if (!hasChromium) return;
  stack = await startTestStack();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] });
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

/**
 * Pixels of a PNG that are coloured (not white, grey or black), counted by Chromium on a canvas, in a
 * blank page of its own (the status page's Content-Security-Policy refuses data: images, rightly).
 */
async function colouredPixels(page: Page, png: Buffer): Promise<number> {
  return page.evaluate(async (base64) => {
    const image = new Image();
    image.src = `data:image/png;base64,${base64}`;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext("2d")!;
    context.drawImage(image, 0, 0);
    const { data } = context.getImageData(0, 0, image.width, image.height);
    let coloured = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
    }
    return coloured;
  }, png.toString("base64"));
}

const SKIPPED = hasChromium ? "" : ` (skipped: ${CHROMIUM} is missing; \`apt-get install chromium\` to run it)`;
describe.skipIf(!hasChromium)(`the status page's trends in Chromium${SKIPPED}`, () => {
  it("draws every chart with data in it, on a phone's width too", async () => {
    const { db } = stack.connection;
    // History as the pipeline writes it: settled rows over the last 7 days with their latencies, a
    // backlog, QStash spend and the cost ledger by day.
    const now = Date.now();
    const rows = [];
    for (let hour = 1; hour < 7 * 24; hour += 3) {
      for (const [priority, latencyMs] of [
        [1, 2_000],
        [4, 30_000],
        [5, 200_000],
      ] as const) {
        const settled = new Date(now - hour * 3_600_000);
        rows.push({
          contentType: "post",
          contentId: `h${hour}-${priority}`,
          priority,
          status: (hour % 9 === 1 ? "failed" : "done") as "failed" | "done",
          createdAt: new Date(settled.getTime() - latencyMs * (1 + (hour % 5) / 5)),
          updatedAt: settled,
        });
      }
    }
    await db.insert(embeddingQueue).values(rows);
    await db
      .insert(embeddingQueue)
      .values(Array.from({ length: 12 }, (_, i) => ({ contentType: "post", contentId: `w${i}`, priority: (i % 3) * 2 + 1 })));
    await db
      .insert(qstashSpend)
      .values(Array.from({ length: 7 }, (_, i) => ({ day: utcDay(now - i * 86_400_000), publishRequests: 300 + i * 60, deliveries: 200 })));
    await db.insert(embeddingSpend).values(
      Array.from({ length: 7 }, (_, i) => ({
        day: utcDay(now - i * 86_400_000),
        model: "text-embedding-3-small",
        lane: "queued",
        tokens: 400_000 + i * 90_000,
        requests: 20,
        inputs: 900,
      })),
    );
    await db.execute(sql`ANALYZE embedding_queue`);

    for (const viewport of [
      { width: 1280, height: 900 },
      { width: 390, height: 844 },
    ]) {
      const decoder = await browser.newPage();
      const page = await browser.newPage({ viewport, httpCredentials: { username: "admin", password: "test-admin-token" } });
      const response = await page.goto(`${stack.url}/api/embeddings/status`);
      expect(response!.status()).toBe(200);
      const ids = await page.locator("figure.chart").evaluateAll((figures) => figures.map((f) => f.id));
      expect(ids).toEqual(
        expect.arrayContaining([
          "backlog-24h",
          "latency-p95-24h",
          "latency-p50-7d",
          "done-7d",
          "failed-7d",
          "daily-qstash-messages",
          "daily-embedding-tokens",
          "daily-embedding-usd",
        ]),
      );
      for (const id of ids) {
        const chart = page.locator(`#${id} svg`);
        const box = (await chart.boundingBox())!;
        // Readable on a phone: no chart wider than the screen.
        expect(box.width, id).toBeLessThanOrEqual(viewport.width);
        expect(box.width, id).toBeGreaterThan(250);
        const pixels = await colouredPixels(decoder, await chart.screenshot());
        expect(pixels, `${id} has no coloured pixel`).toBeGreaterThan(40);
      }
      const name = viewport.width < 500 ? "status-page-phone.png" : "status-page.png";
      await page.screenshot({ path: join(SHOTS, name), fullPage: true });
      await Promise.all([page.close(), decoder.close()]);
    }
  });

  it("finds no coloured pixel in a chart with nothing to draw (the check can fail)", async () => {
    const span = { name: "24h" as const, stepMs: 900_000, from: 0, steps: 96, lanes: {} as never };
    const svg = String(
      await lineChart("empty", "Nothing", span, [{ label: "immediate", color: "#d9480f", values: new Array(96).fill(null) }]),
    );
    const page = await browser.newPage();
    await page.setContent(
      `<!doctype html><html><body style="margin:0;background:#fff"><div style="width:400px">${svg}</div></body></html>`,
    );
    // The legend's swatch is the one coloured thing: the plot itself must hold none.
    const plot = (await page.locator("svg").boundingBox())!;
    const png = await page.screenshot({
      clip: { x: plot.x + plot.width * 0.14, y: plot.y, width: plot.width * 0.84, height: plot.height * 0.75 },
    });
    expect(await colouredPixels(page, png)).toBe(0);
    await page.close();
  });
});
