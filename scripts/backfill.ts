// `npm run backfill [type] [--after id] [--drain] [--estimate]`: queues every existing row for embedding, with
// progress. Interrupted? Run it again with the --after id it last printed; queuing twice is harmless.
// --drain embeds the backlog here and now instead of leaving it to the scheduled drain; into an empty
// embeddings table it loads first and builds the HNSW index after (scripts/lib/initial-load.ts).
// --estimate queues and spends nothing: it says what the backfill would cost (scripts/lib/estimate.ts).
import { count } from "drizzle-orm";
import { loadConfig } from "../functions/config";
import { restoreHnswIndex } from "../functions/db/hnsw-index";
import { createEmbedder, createShadowEmbedder } from "../functions/embedders";
import type { ContentType } from "../schema/registry";
import { createRegistry } from "../schema/registry";
import { backfill, tableOf } from "./lib/backfill";
import { openDatabase } from "./lib/database";
import { embedderLine } from "./lib/embedder-line";
import { estimateBackfill, formatEstimate } from "./lib/estimate";
import { drainBacklog } from "./lib/initial-load";
import { runScript } from "./lib/run-script";

const args = process.argv.slice(2);
const afterIndex = args.indexOf("--after");
const after = afterIndex >= 0 ? args[afterIndex + 1] : undefined;
const type = args.find((a, i) => !a.startsWith("--") && (afterIndex < 0 || i !== afterIndex + 1));
const registry = createRegistry();
const entries = type ? [registry.byType(type)] : registry.entries;
if (entries.some((e) => !e)) {
  console.error(`Unknown content type "${type}". Known: ${registry.entries.map((e) => e.type).join(", ")}`);
  process.exit(1);
}

await runScript(async () => {
  const config = loadConfig(process.env);
  const connection = await openDatabase(config, "npm run backfill");
  if (args.includes("--estimate")) {
    const embedder = createEmbedder(config);
    const estimate = await estimateBackfill({ db: connection.db, registry, embedder, config }, entries as ContentType[]);
    console.log(formatEstimate(estimate));
    await connection.close();
    return;
  }
  for (const entry of entries) {
    const [{ total } = { total: 0 }] = await connection.db.select({ total: count() }).from(entry!.table);
    const bar = (done: number) => {
      const width = 30;
      const filled = total ? Math.round((done / total) * width) : width;
      return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`;
    };
    const queued = await backfill(connection.db, entry!, {
      after: type ? after : undefined,
      onProgress: (done, lastId) => process.stdout.write(`\r${entry!.type.padEnd(10)} ${bar(done)}  (resume with --after ${lastId})   `),
    });
    process.stdout.write(`\r${entry!.type.padEnd(10)} ${bar(queued)}  queued from ${tableOf(entry!)}${" ".repeat(30)}\n`);
  }
  if (args.includes("--drain")) {
    const deps = { db: connection.db, config, registry, embedder: createEmbedder(config), shadowEmbedder: createShadowEmbedder(config) };
    // Ctrl-C or a TERM mid-load: the index comes back before exiting (a second Ctrl-C leaves it to the
    // next npm start, backfill or maintenance). Claimed items go back to the queue when their lease ends.
    const interrupted = async (signal: string) => {
      console.log(`\n${signal}: building the HNSW index before stopping (again to stop at once)…`);
      await restoreHnswIndex(connection.db);
      await connection.close();
      process.exit(130);
    };
    process.once("SIGINT", interrupted);
    process.once("SIGTERM", interrupted);
    console.log(`Embedding with ${embedderLine(config)}.`);
    const load = await drainBacklog(deps, {
      copySession: connection.copySession,
      // The embedded database gets 512 MB; on a server, indexBuildSettings sizes it from the table and the server.
      maintenanceWorkMem: connection.kind === "pglite" ? "512MB" : undefined,
      onProgress: (summary, done) => process.stdout.write(`\rembedded ${done} items, ${summary.remaining} to go   `),
    });
    process.stdout.write("\n");
    if (load.rebuiltIndex) console.log(`Loaded without the HNSW index and built it after (${load.indexSeconds.toFixed(1)} s).`);
    console.log(
      `Done: ${load.done} embedded, ${load.failed} failed (see /api/embeddings/queue), ${load.remaining} left to the scheduled drain.`,
    );
  } else {
    console.log(
      "Done. The drain embeds the queued rows (on its schedule, which `npm run schedules` prints, and again while a backlog remains); --drain embeds them now.",
    );
  }
  await connection.close();
});
