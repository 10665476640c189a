// Finds the committed change-capture migration, the one the registry must agree with.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { migrationsFolder } from "./migrations";

export const CAPTURE_MIGRATION_NAME = "embedding_triggers";

/** The path of the newest `*_embedding_triggers.sql` migration, or undefined when there is none. */
export function latestCaptureMigration(): string | undefined {
  const journal = JSON.parse(readFileSync(join(migrationsFolder, "meta/_journal.json"), "utf8")) as {
    entries: { tag: string }[];
  };
  const tag = journal.entries
    .map((e) => e.tag)
    .filter((t) => t.endsWith(`_${CAPTURE_MIGRATION_NAME}`))
    .at(-1);
  return tag && join(migrationsFolder, `${tag}.sql`);
}
