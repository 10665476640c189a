// A claim takes at most the batch it asks for (functions/queue/claim.ts), whatever plan the database
// chooses: CI on real PostgreSQL once saw a drain of 50-row batches claim 300 rows in one statement,
// when fresh statistics made the planner run the LIMIT … SKIP LOCKED subquery once per outer row.
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimBatch } from "../functions/queue/claim";
import { queueItems } from "../functions/queue/index";
import { embeddingQueue } from "../schema/pipeline-tables";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase } from "./support/database";

let connection: Connection;
beforeAll(async () => {
  connection = await freshDatabase();
});
afterAll(() => connection?.close());

describe("claimBatch", () => {
  it("claims no more than its size under a plan that rescans the row pick (a nested-loop semi join)", async () => {
    const { db } = connection;
    await queueItems(
      db,
      Array.from({ length: 300 }, (_, i) => ({ contentType: "comment", contentId: `c${i}`, priority: 3, op: "upsert" as const })),
      "trigger",
    );
    const claimed = await db.transaction(async (tx) => {
      // The plan CI met: every way to pick the rows once (hashing, sorting, materializing, hash or merge
      // joins) priced out, so the pick becomes the inner side of a nested loop, run again per queue row.
      for (const setting of ["enable_hashagg", "enable_sort", "enable_material", "enable_hashjoin", "enable_mergejoin"]) {
        await tx.execute(sql`SELECT set_config(${setting}, 'off', true)`);
      }
      return claimBatch(tx, 50, 60_000);
    });
    expect(claimed).toHaveLength(50);
    expect(await db.$count(embeddingQueue, eq(embeddingQueue.status, "processing"))).toBe(50);
  });
});
