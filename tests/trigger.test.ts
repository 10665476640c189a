// The local QStash emulator driven by hand: a given token, URL and signing keys are the emulator's,
// and `npm run trigger -- <function>` runs a scheduled function now, as its schedule would.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobRuns } from "../schema";
import { startTestStack, type TestStack } from "./support/stack";
import { waitFor } from "./support/wait-for";

const given = {
  QSTASH_TOKEN: "hand-driven-token",
  QSTASH_URL: "http://127.0.0.1:18431",
  QSTASH_CURRENT_SIGNING_KEY: "sig_given_current",
  QSTASH_NEXT_SIGNING_KEY: "sig_given_next",
};
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ env: given });
});
afterAll(() => stack.close());

const trigger = (args: string[], env: Record<string, string>) =>
  promisify(execFile)(join("node_modules", ".bin", "tsx"), ["scripts/trigger.ts", ...args], {
    env: { PATH: process.env.PATH, ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (error) => ({ code: error.code as number, output: `${error.stdout}${error.stderr}` }),
  );

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
    const result = await trigger(["drain"], { QSTASH_TOKEN: given.QSTASH_TOKEN, QSTASH_URL: given.QSTASH_URL, SITE_URL: stack.url });
    expect(result, result.output).toMatchObject({ code: 0 });
    await waitFor(
      async () => (await stack.connection.db.$count(jobRuns, eq(jobRuns.job, "drain"))) > before,
      30_000,
      "the drain's job run",
    );
  });

  it("says in one line what it needs, instead of a stack trace", async () => {
    const unknown = await trigger(["vacuum"], {});
    expect(unknown.code).toBe(1);
    expect(unknown.output.trim()).toBe("Usage: npm run trigger -- drain|maintenance|retry-failed");
    const unset = await trigger(["maintenance"], {});
    expect(unset.code).toBe(1);
    expect(unset.output.trim().split("\n")).toHaveLength(1);
    expect(unset.output).toContain("npm start` prints them");
  });
});
