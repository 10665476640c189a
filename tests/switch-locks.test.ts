// What a model switch waits for, and what waits for it (functions/sets/switch.ts), on a real PostgreSQL
// (PGlite has one connection: nothing ever waits there). A write in progress holds the tables: the
// switch waits for it while searches go on answering, and completes once it commits. A search that
// holds its set is waited for in short attempts, so searches arriving meanwhile are not stalled behind
// the switch; held for good, the switch gives up, changing nothing, and says so.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../functions/config";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { localEmbedder } from "../functions/embedders/local";
import { search } from "../functions/search";
import { createShadow } from "../functions/sets/shadow";
import { switchSets } from "../functions/sets/switch";
import { createRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase, onRealPostgres, POSTGRES_ONLY } from "./support/database";
import { columnType as columnTypeOf, servedPosts } from "./support/switch-fixture";

const TOPICS = ["Tide pools and kelp forests", "Volcanic rock and basalt", "Orbital mechanics"];

let connection: Connection;
let deps: Deps;
let app: pg.Pool;
let posts: string[];

const columnType = (table: string) => columnTypeOf(connection.db, table);
const find = (query: string) => search(deps, { query, limit: 3, minScore: 0.05 }, "admin");
/** Resolves once some session waits for a lock (pg_locks) meeting `condition`. */
async function waitingFor(condition: string) {
  for (let i = 0; i < 600; i++) {
    const { rows } = await app.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND ${condition}`);
    if (rows[0]!.n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no session came to wait for a lock where ${condition}`);
}

describe.skipIf(!onRealPostgres)(`a model switch's locks ${POSTGRES_ONLY}`, { timeout: 120_000 }, () => {
  beforeAll(async () => {
    connection = await freshDatabase();
    app = new pg.Pool({ connectionString: connection.url, max: 4 });
    deps = {
      db: connection.db,
      config: loadConfig({ EMBEDDER: "local", EMBEDDING_SHADOW_DIMENSIONS: "384" }),
      registry: createRegistry(),
      embedder: localEmbedder(1536),
      shadowEmbedder: localEmbedder(384),
    };
    posts = await servedPosts(deps, TOPICS);
    await createShadow(connection.db, { model: deps.shadowEmbedder!.model, dimensions: 384, storage: "halfvec" }, deps.embedder);
    expect((await drain(deps)).done).toBe(TOPICS.length);
  });
  afterAll(async () => {
    await app?.end();
    await connection?.close();
  });

  it("waits for a write in progress without holding up searches, and completes when it commits", async () => {
    const writer = await app.connect();
    try {
      await writer.query("BEGIN");
      await writer.query("UPDATE embeddings SET chunk_text = chunk_text WHERE content_id = $1", [posts[1]]);
      const switching = switchSets(connection.db, "switch");
      await waitingFor("mode = 'ShareLock' AND relation = 'embeddings'::regclass");
      // The switch waits for the writer; a search meanwhile answers, from the serving set.
      expect((await find("orbital mechanics")).results[0]?.contentId).toBe(posts[2]);
      expect(await columnType("embeddings")).toBe("vector(1536)");
      await writer.query("COMMIT");
      expect((await switching).serving).toMatchObject({ dimensions: 384, storage: "halfvec" });
    } finally {
      writer.release();
    }
    expect(await columnType("embeddings")).toBe("halfvec(384)");
    expect((await find("orbital mechanics")).results[0]?.contentId).toBe(posts[2]);
  });

  it("waits for a running search in short attempts, letting other searches through; gives up unchanged if it never ends", async () => {
    const reader = await app.connect();
    try {
      // A search's transaction holds its set FOR SHARE while it reads the vectors (functions/search.ts).
      await reader.query("BEGIN");
      await reader.query("SELECT role FROM embedding_sets FOR SHARE");
      const switching = switchSets(connection.db, "rollback").then(
        () => undefined,
        (error: Error) => error,
      );
      // FOR UPDATE of a row another transaction holds waits on that transaction.
      await waitingFor("locktype = 'transactionid'");
      expect((await find("tide pools kelp")).results[0]?.contentId).toBe(posts[0]);
      const error = await switching;
      expect(error?.message).toMatch(
        /waited 25 times 200ms for running searches to let go of the tables and gave up: nothing changed; try again/,
      );
      expect(await columnType("embeddings")).toBe("halfvec(384)");
    } finally {
      await reader.query("ROLLBACK");
      reader.release();
    }
    expect((await switchSets(connection.db, "rollback")).serving).toMatchObject({ dimensions: 1536, storage: "vector" });
    expect(await columnType("embeddings")).toBe("vector(1536)");
  });
});
