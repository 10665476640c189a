// `npm start`: the whole pipeline on this machine, on the embedded defaults unless the environment
// names real services (ARCHITECTURE.md §7).
import { loadConfig } from "../functions/config";
import { restoreHnswIndex } from "../functions/db/hnsw-index";
import { requirePgvector } from "../functions/db/pgvector";
import { BASE_PATH, ENDPOINT_LIST, ROUTES } from "../functions/endpoints";
import { openDatabase, START_COMMAND } from "./lib/database";
import { checkEmbedderAnswers } from "./lib/embedder-check";
import { embedderLine } from "./lib/embedder-line";
import { startLocalStack } from "./lib/local-stack";
import { servePglite } from "./lib/pg-server";
import { runScript } from "./lib/run-script";

await runScript(async () => {
  const config = loadConfig(process.env);
  const connection = await openDatabase(config, START_COMMAND);
  // The migrations refuse a pgvector too old for them; what a newer one would add is said below.
  await connection.migrate();
  const pgvector = await requirePgvector(connection.db);
  // A first load stopped by SIGKILL left the HNSW index dropped: search is back on it before serving.
  if (await restoreHnswIndex(connection.db)) console.log("Built the HNSW index, which an interrupted first load had left dropped.");
  const pgServer = connection.pglite ? await servePglite(connection.pglite, config.local.pgPort) : undefined;
  // Scripts run beside the stack (backfill, db:migrate) find the folder's port here and use it.
  if (pgServer) connection.serveAt?.(pgServer.url);
  const stack = await startLocalStack({
    connection,
    env: process.env,
    port: config.local.port,
    forwardNotifications: true,
    schedules: true,
    emulator: { log: (line) => console.log(`[qstash] ${line}`) },
  });
  await checkEmbedderAnswers(stack.deps.embedder).catch(async (error) => {
    await stack.close();
    throw error;
  });
  const api = `${stack.url}${BASE_PATH}`;
  const c = stack.config;
  const paths = ROUTES.map((r) => r.path);
  const schedules = stack.schedules.map((s) => `${s.scheduleId} ${s.cron}`).join(" · ");

  console.log(`
qstash-embeddings is running.

  Functions      ${api}/{${paths.join(",")}}
  Status page    ${api}/status   (user: anything, password: the admin token below)
  Database       ${pgServer ? `embedded PGlite in ${c.local.dataDir}, served at ${pgServer.url}` : `${connection.kind} (DATABASE_URL)`}
  pgvector       ${pgvector.summary}
  QStash         ${stack.emulator ? `local emulator at ${stack.emulator.url}, token ${c.qstash.token}` : (c.qstash.url ?? "https://qstash.upstash.io")}
  Embeddings     ${embedderLine(c)}
${stack.reembedding ? `  Re-embedding   ${stack.reembedding} items were embedded with another model: queued behind live traffic\n` : ""}  Schedules      ${schedules} (UTC; doorbells ring at once, the drain's schedule is the safety net)
${process.env.WEBHOOK_SECRET ? "" : `  Webhook secret ${c.webhookSecret}   (random for this run; set WEBHOOK_SECRET to fix it)\n`}${process.env.ADMIN_TOKEN ? "" : `  Admin token    ${c.adminToken}   (random for this run; set ADMIN_TOKEN to fix it)\n`}${process.env.SEARCH_TOKEN ? "" : `  Search token   ${c.searchToken}   (random for this run; set SEARCH_TOKEN to fix it)\n`}
Try it:
${pgServer ? `  psql "${pgServer.url}" -c "insert into course (title, description) values ('Intro to astronomy', 'Stars, planets and galaxies')"\n` : ""}  curl -s -X POST ${api}/search -H 'authorization: Bearer ${c.searchToken ?? "<SEARCH_TOKEN>"}' -H 'content-type: application/json' -d '{"query":"astronomy"}'
${
  stack.emulator
    ? `
Run a schedule now (${ENDPOINT_LIST.filter((e) => e.schedule)
        .map((e) => e.name)
        .join(", ")}):
  QSTASH_URL=${stack.emulator.url} QSTASH_TOKEN=${c.qstash.token} SITE_URL=${stack.url} npm run trigger -- drain
`
    : ""
}`);

  const stop = async () => {
    await stack.close();
    await pgServer?.stop();
    await connection.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
});
