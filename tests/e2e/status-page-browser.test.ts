// The status page as a person sees it, in a real headless Chromium (Debian's; .ci/run installs it).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { communityComment, embeddingQueue } from "../../schema";
import { startTestStack, type TestStack } from "../support/stack";
import { tempFolder } from "../support/temp-folder";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium`);

const screenshots = tempFolder("status-page");
let stack: TestStack;
beforeAll(async () => {
  if (hasChromium) stack = await startTestStack();
});
afterAll(() => stack?.close());

// Skipped only where Chromium is missing, and then says so by name (CI installs it and never skips).
const SKIPPED = hasChromium ? "" : ` (skipped: ${CHROMIUM} is missing; \`apt-get install chromium\` to run it)`;
describe.skipIf(!hasChromium)(`the status page in Chromium${SKIPPED}`, () => {
  it("shows depth per lane, throughput and recent failures at a glance", async () => {
    await stack.connection.db.insert(communityComment).values([{ body: "waiting one" }, { body: "waiting two" }]);
    await stack.connection.db.insert(embeddingQueue).values({
      contentType: "post",
      contentId: "p-broken",
      priority: 4,
      status: "failed",
      lastError: "embedding API answered 400: input too long",
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const page = await browser.newPage({ httpCredentials: { username: "admin", password: "test-admin-token" } });
      const response = await page.goto(`${stack.url}/api/embeddings/status`);
      expect(response!.status()).toBe(200);
      expect(await page.title()).toBe("Embeddings status");
      const lanes = await page.locator("#lanes tr").allInnerTexts();
      expect(lanes).toContainEqual(expect.stringMatching(/^batched \(5\+\)\s+2\s+0\s+0\s+0$/));
      expect(lanes).toContainEqual(expect.stringMatching(/^queued \(3–4\)\s+0\s+0\s+0\s+1$/));
      expect(await page.locator("#oldest").innerText()).toMatch(/^\d+ s$/);
      expect(await page.locator("#failures").innerText()).toContain("embedding API answered 400: input too long");
      expect(await page.locator("#throughput").innerText()).toMatch(/items done/);
      // The full page renders to an image (in a temporary folder, never the checkout).
      await page.screenshot({ path: join(screenshots, "status-page.png"), fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it("asks the browser for the admin token", async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage();
      // A Basic-auth challenge with no credentials to give: headless Chromium refuses the page.
      await expect(page.goto(`${stack.url}/api/embeddings/status`)).rejects.toThrow(/AUTH/);
    } finally {
      await browser.close();
    }
  });
});
