// A type's text search configuration is a registry setting (`search.textConfig`); rows written before
// it changed keep the old one until realigned here, by maintenance, a bounded batch a run.
import { sql } from "drizzle-orm";
import { type Registry, textConfigOf } from "../../schema/registry.js";
import { type Database, rowsOf } from "../db/database.js";

/**
 * Chunks realigned a run at most: each update regenerates the row's full text and re-enters it in
 * both indexes (HNSW included), so a large type is brought over across several daily runs.
 */
export const REALIGN_BATCH = 5000;

/** Sets each type's rows to its configured text search configuration; their full text follows (a generated column). Returns how many changed. */
export async function realignTextConfigs(db: Database, registry: Registry, batch = REALIGN_BATCH): Promise<number> {
  let changed = 0;
  for (const entry of registry.entries) {
    if (changed >= batch) break;
    const config = textConfigOf(entry);
    const rows = await rowsOf<{ id: number }>(
      db.execute(sql`UPDATE embeddings SET text_config = ${config}::regconfig
        WHERE id IN (SELECT id FROM embeddings WHERE content_type = ${entry.type} AND text_config <> ${config}::regconfig LIMIT ${batch - changed})
        RETURNING id`),
    );
    changed += rows.length;
  }
  return changed;
}
