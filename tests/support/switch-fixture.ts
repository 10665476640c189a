// What the model-switch tests share: posts on distinct topics embedded by the serving set alone, and
// the type of a set's vector column.
import { sql } from "drizzle-orm";
import { processItems } from "../../functions/core/process";
import { type Database, rowsOf } from "../../functions/db/database";
import type { Deps } from "../../functions/deps";
import { communityPost, embeddingQueue } from "../../schema";

/** One post a topic, embedded before any shadow (the serving set alone), the queue emptied; their ids in order. */
export async function servedPosts(deps: Deps, topics: string[]): Promise<string[]> {
  const rows = await deps.db
    .insert(communityPost)
    .values(topics.map((title) => ({ title, body: `Field notes on ${title.toLowerCase()}` })))
    .returning();
  const posts = rows.map((r) => r.id);
  await processItems(
    { ...deps, shadowEmbedder: undefined },
    posts.map((contentId) => ({ contentType: "post", contentId })),
  );
  await deps.db.delete(embeddingQueue);
  return posts;
}

/** `vector(1536)`, `halfvec(384)`…: the embedding column of `table`, undefined with no such table. */
export async function columnType(db: Database, table: string) {
  const [row] = await rowsOf<{ type: string }>(
    db.execute(sql`SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = to_regclass(${table}) AND attname = 'embedding'`),
  );
  return row?.type;
}
