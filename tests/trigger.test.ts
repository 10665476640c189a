// The local QStash emulator driven by hand: a given token, URL and signing keys are the emulator's,
// and `npm run trigger -- <function>` (scripts/trigger.ts's `main`, called here in process) runs a
// scheduled function now, as its schedule would. tests/e2e/trigger.test.ts runs the script itself.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobRuns } from "../schema";
import { main as trigger } from "../scripts/trigger";
import { freePort } from "./support/free-port";
import { startTestStack, type TestStack } from "./support/stack";
import { waitFor } from "./support/wait-for";

let stack: TestStack;
let given: Record<string, string>;
beforeAll(async () => {
  given = {
    QSTASH_TOKEN: "hand-driven-token",
    QSTASH_URL: `http://127.0.0.1:${await freePort()}`,
    QSTASH_CURRENT_SIGNING_KEY: "sig_given_current",
    QSTASH_NEXT_SIGNING_KEY: "sig_given_next",
  };
  stack = await startTestStack({ env: given });
});
afterAll(() => stack.close());

describe("the emulator by hand", () => {
  it("uses the token, URL and signing keys it is given", () => {
    expect(stack.emulator!.url).toBe(given.QSTASH_URL);
    expect(stack.emulator!.emulator.options).toMatchObject({
      token: given.QSTASH_TOKEN,
      currentSigningKey: given.QSTASH_CURRENT_SIGNING_KEY,
      nextSigningKey: given.QSTASH_NEXT_SIGNING_KEY,
    });
  });

  it("npm run trigger -- drain runs the drain now, through QStash", async () => {
    const before = await stack.connection.db.$count(jobRuns, eq(jobRuns.job, "drain"));
    const printed: string[] = [];
    await trigger(["drain"], { QSTASH_TOKEN: given.QSTASH_TOKEN, QSTASH_URL: given.QSTASH_URL, SITE_URL: stack.url }, (line) =>
      printed.push(line),
    );
    expect(printed.join("\n")).toContain(`${stack.url}/api/embeddings/drain`);
    await waitFor(
      async () => (await stack.connection.db.$count(jobRuns, eq(jobRuns.job, "drain"))) > before,
      30_000,
      "the drain's job run",
    );
  });

  it("says what it needs in one sentence", async () => {
    await expect(trigger(["vacuum"], {})).rejects.toThrow(/^Usage: npm run trigger -- drain\|maintenance\|retry-failed$/);
    await expect(trigger(["maintenance"], {})).rejects.toThrow(/npm start` prints them/);
  });
});
