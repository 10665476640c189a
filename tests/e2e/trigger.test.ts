// `npm run trigger` as a person runs it, in a process of its own (tests/trigger.test.ts calls the same
// `main` in process): its exit codes and its one-line refusals.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobRuns } from "../../schema";
import { freePort } from "../support/free-port";
import { runScript, stopLaunched } from "../support/launch";
import { startTestStack, type TestStack } from "../support/stack";
import { waitFor } from "../support/wait-for";

let stack: TestStack;
let given: Record<string, string>;
beforeAll(async () => {
  given = { QSTASH_TOKEN: "hand-driven-token", QSTASH_URL: `http://127.0.0.1:${await freePort()}` };
  stack = await startTestStack({ env: given });
});
afterAll(async () => {
  await stopLaunched();
  await stack.close();
});

describe("npm run trigger", () => {
  it("-- drain runs the drain now, through QStash, and exits 0", async () => {
    const before = await stack.connection.db.$count(jobRuns, eq(jobRuns.job, "drain"));
    const result = await runScript("scripts/trigger.ts", ["drain"], { ...given, SITE_URL: stack.url });
    expect(result, result.output).toMatchObject({ code: 0 });
    await waitFor(
      async () => (await stack.connection.db.$count(jobRuns, eq(jobRuns.job, "drain"))) > before,
      30_000,
      "the drain's job run",
    );
  });

  it("says in one line what it needs, instead of a stack trace, and exits 1", async () => {
    const unknown = await runScript("scripts/trigger.ts", ["vacuum"]);
    expect(unknown.code).toBe(1);
    expect(unknown.output.trim()).toBe("Usage: npm run trigger -- drain|maintenance|retry-failed");
    const unset = await runScript("scripts/trigger.ts", ["maintenance"]);
    expect(unset.code).toBe(1);
    expect(unset.output.trim().split("\n")).toHaveLength(1);
  });
});
