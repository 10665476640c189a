// `npm run backfill [type] [--after id]`: queues every existing row for embedding, with progress.
// Interrupted? Run it again with the --after id it last printed; queuing twice is harmless.
import { count } from "drizzle-orm";
import { loadConfig } from "../functions/config";
import { createRegistry } from "../schema/registry";
import { backfill, tableOf } from "./lib/backfill";
import { openDatabase } from "./lib/database";

const args = process.argv.slice(2);
const afterIndex = args.indexOf("--after");
const after = afterIndex >= 0 ? args[afterIndex + 1] : undefined;
const type = args.find((a, i) => !a.startsWith("--") && i !== afterIndex + 1);
const registry = createRegistry();
const entries = type ? [registry.byType(type)] : registry.entries;
if (entries.some((e) => !e)) {
  console.error(`Unknown content type "${type}". Known: ${registry.entries.map((e) => e.type).join(", ")}`);
  process.exit(1);
}

const connection = await openDatabase(loadConfig(process.env));
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
await connection.close();
console.log("Done. The drain embeds the queued rows (every minute, or sooner while a backlog remains).");
