// The database drops while an item is being processed: the item is retried, not lost. The functions
// reach PGlite over the PostgreSQL wire (node-postgres), and the wire is cut mid-processing.
import { and, eq, inArray, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../functions/db/database";
import { drain } from "../functions/drain";
import * as schema from "../schema";
import { type Connection, nodePostgresPool } from "../scripts/lib/database";
import { servePglite } from "../scripts/lib/pg-server";
import { freshDatabase, onRealPostgres, PGLITE_ONLY } from "./support/database";
import { startTestStack, type TestStack } from "./support/stack";
import { waitFor } from "./support/wait-for";

const { communityComment, course, embeddingQueue, embeddings } = schema;
let embedded: Connection;
let server: Awaited<ReturnType<typeof servePglite>>;
let pool: pg.Pool;
let stack: TestStack;

/** Cuts every connection and refuses new ones for `ms`, then serves the same database again. */
async function dropDatabaseFor(ms: number) {
  const { port } = server;
  await server.stop();
  await new Promise((resolve) => setTimeout(resolve, ms));
  server = await servePglite(embedded.pglite!, port);
}

// pglite-socket lets the test cut every connection and serve the same data again.
describe.skipIf(onRealPostgres)(`the database dropping during processing ${PGLITE_ONLY}`, () => {
  beforeAll(async () => {
    embedded = await freshDatabase();
    server = await servePglite(embedded.pglite!, 0); // a free port, kept across the drops
    pool = nodePostgresPool({ connectionString: server.url, max: 4, connectionTimeoutMillis: 2000 });
    const db = drizzle({ client: pool, schema }) as unknown as Database;
    stack = await startTestStack({
      connection: {
        db,
        kind: "postgres",
        migrate: async () => undefined,
        listen: async () => async () => undefined,
        close: async () => undefined,
      },
      // A doorbell's run leases its rows for twice its budget; QStash's retry comes later than that (as the
      // real one's 12 s, 2.5 min… back-off outlasts a 20 s budget's 40 s lease), so it can take them again.
      // 4 s: a run on a busy machine still embeds within it.
      env: { PROCESS_BUDGET_MS: "4000" },
      emulator: { backoff: () => 9000 },
    });
    stack.api.latencyMs = 300;
  });
  afterAll(async () => {
    await stack.close();
    await pool.end().catch(() => undefined);
    await server.stop();
    await embedded.close();
  });

  it("makes process-webhook answer 503, and QStash's retry embeds the item", async () => {
    const [row] = await embedded.db.insert(course).values({ title: "Survives a database outage" }).returning();
    await embedded.db.delete(embeddingQueue);
    const received = stack.api.received;
    expect((await stack.post("enqueue", { contentType: "course", contentId: row!.id })).status).toBe(202);
    // Once the delivery waits on the 300 ms embedding call, cut the database under it.
    await waitFor(() => stack.api.received > received, 5000, "the delivery to reach the embedding API");
    await dropDatabaseFor(500);
    await waitFor(() => embedded.db.$count(embeddings, eq(embeddings.contentId, row!.id)), 120_000, "the retried delivery");
    const deliveries = () => stack.emulator!.emulator.deliveries.filter((d) => d.url.endsWith("/process-webhook"));
    await waitFor(() => deliveries().at(-1)?.status === 200, 3000, "the successful delivery to be recorded");
    expect(deliveries().some((d) => d.status === 503)).toBe(true);
  });

  it("keeps the process up when a connection drops while checked out, and serves again after", async () => {
    // As inside a transaction: the connection is held between statements when the database goes.
    const client = await pool.connect();
    await client.query("BEGIN");
    await dropDatabaseFor(300);
    await expect(client.query("SELECT 1")).rejects.toThrow();
    client.release(true);
    await waitFor(
      async () =>
        (
          await pool.query("SELECT 1 AS ok").then(
            (r) => r.rows,
            () => [],
          )
        ).length === 1,
      5000,
      "the pool to serve again",
    );
  });

  it("leaves a drain's claimed rows to expire and be finished by the next run", async () => {
    await embedded.db.delete(embeddingQueue);
    const rows = await embedded.db
      .insert(communityComment)
      .values([{ body: "outage one" }, { body: "outage two" }])
      .returning();
    const received = stack.api.received;
    // A budget the 300 ms embedding call fits in, so that the run is still in it when the database goes.
    const run = expect(drain(stack.deps, { budgetMs: 1500 })).rejects.toThrow();
    await waitFor(() => stack.api.received > received, 5000, "the drain to reach the embedding API");
    // Down past the store and the back-off write: the run can record nothing and fails.
    await dropDatabaseFor(800);
    await run;
    const claimed = await embedded.db
      .select()
      .from(embeddingQueue)
      .where(
        inArray(
          embeddingQueue.contentId,
          rows.map((r) => r.id),
        ),
      );
    expect(claimed.map((r) => r.status)).toEqual(["processing", "processing"]);
    // The lease (twice the budget) runs out; the next run takes the rows and finishes them.
    await new Promise((resolve) => setTimeout(resolve, 3100));
    const summary = await drain(stack.deps, { budgetMs: 5000 });
    expect(summary).toMatchObject({ claimed: 2, done: 2 });
    for (const r of rows) expect(await embedded.db.$count(embeddings, eq(embeddings.contentId, r.id))).toBe(1);
    expect(
      await embedded.db.$count(
        embeddingQueue,
        and(
          inArray(
            embeddingQueue.contentId,
            rows.map((r) => r.id),
          ),
          sql`status <> 'done'`,
        ),
      ),
    ).toBe(0);
  });
});
