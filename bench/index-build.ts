// The HNSW index build of a first load: `buildHnswIndex` (settings read from the server,
// functions/db/hnsw-index.ts `indexBuildSettings`) against the same CREATE INDEX at the server's defaults, on the
// same n vectors (loaded by COPY, dense, as a real model's), in one run: defaults, tuned, defaults
// again, so that neither gains from going second alone; then the defaults without parallel workers,
// to show what the defaults' own workers already gain.
import { sql } from "drizzle-orm";
import { buildHnswIndex, dropHnswIndex, indexBuildSettings } from "../functions/db/hnsw-index";
import { HNSW_INDEX } from "../schema";
import { EMBEDDING_COLUMNS } from "../scripts/lib/copy-writer";
import { copyText, openBenchDatabase } from "./bench-database";
import { realisticText, seededRandom } from "./corpus";

export async function indexBuild(n: number) {
  const database = await openBenchDatabase();
  const { db } = database;
  const random = seededRandom(n + 2);
  try {
    await dropHnswIndex(db);
    for (let i = 0; i < n; i += 5000) {
      const lines = Array.from({ length: Math.min(5000, n - i) }, (_, j) => {
        const vector = Array.from({ length: 1536 }, () => Math.fround(random() - 0.5));
        const row = ["post", String(i + j), 0, realisticText(random).slice(0, 300), "h", "m", 1536, JSON.stringify(vector)];
        return row.map(copyText).join("\t");
      });
      await database.copyIn("embeddings", EMBEDDING_COLUMNS, lines);
    }
    await db.execute(sql`VACUUM ANALYZE embeddings`);
    const server = await database.query<{ name: string; setting: string }>(
      `SELECT name, current_setting(name) AS setting FROM unnest(ARRAY['maintenance_work_mem','max_parallel_maintenance_workers','min_parallel_table_scan_size','effective_cache_size']) AS name`,
    );
    const tuned = await indexBuildSettings(db);
    const seconds = async (build: () => Promise<unknown>) => {
      await dropHnswIndex(db);
      const started = performance.now();
      await build();
      return (performance.now() - started) / 1000;
    };
    // PostgreSQL says, at DEBUG1, how many parallel workers it requests for a build (index.c `index_build`).
    const workersRequested = async (build: () => Promise<unknown>) => {
      database.notices.length = 0;
      await database.query("SET client_min_messages = debug1");
      await build();
      await database.query("RESET client_min_messages");
      const message = database.notices.find((m) => m.startsWith(`building index "${HNSW_INDEX}"`)) ?? "";
      return /serially$/.test(message) ? "0" : /with request for (\d+) parallel workers/.exec(message)?.[1];
    };
    const defaults = () => database.query(`CREATE INDEX ${HNSW_INDEX} ON embeddings USING hnsw (embedding vector_cosine_ops)`);
    const defaultsFirst = await seconds(defaults);
    await dropHnswIndex(db);
    const defaultWorkers = await workersRequested(defaults);
    const tunedSeconds = await seconds(() => buildHnswIndex(db));
    const defaultsAgain = await seconds(defaults);
    // What the server's defaults already gain by parallel workers: the same build with none.
    await database.query("SET max_parallel_maintenance_workers = 0");
    const serialSeconds = await seconds(defaults);
    await database.query("RESET max_parallel_maintenance_workers");
    return {
      n,
      server: Object.fromEntries(server.map((s) => [s.name, s.setting])),
      tuned,
      defaultsSeconds: [defaultsFirst, defaultsAgain],
      tunedSeconds,
      serialSeconds,
      /** Parallel workers the server requests for the build at its defaults (PostgreSQL only). */
      defaultWorkers,
      speedup: Math.min(defaultsFirst, defaultsAgain) / tunedSeconds,
    };
  } finally {
    await database.close();
  }
}
