// The local embedder is what runs when no OpenAI key is set. Run by a shell that lacks the key against
// a database embedded with OpenAI, it would quietly replace every vector with its lexical ones: so a
// switch to it must be asked for by name (EMBEDDER=local).
import { ne } from "drizzle-orm";
import type { Config } from "../../functions/config";
import type { Database } from "../../functions/db/database";
import type { Embedder } from "../../functions/embedders/embedder";
import { LOCAL_MODEL } from "../../functions/embedders/local";
import { ConfigError } from "../../functions/lib/errors";
import { embeddings } from "../../schema/pipeline-tables";

/** Throws a ConfigError when the local embedder, fallen back on, would replace another model's vectors. */
export async function refuseUnaskedSwitch(db: Database, config: Config, embedder: Pick<Embedder, "model">): Promise<void> {
  if (config.embedderChosen || embedder.model !== LOCAL_MODEL) return;
  const [other] = await db.select({ model: embeddings.model }).from(embeddings).where(ne(embeddings.model, LOCAL_MODEL)).limit(1);
  if (!other) return;
  throw new ConfigError(
    `this database's vectors were made by ${other.model}, and OPENAI_API_KEY is not set: the local embedder (${LOCAL_MODEL}) would replace them all. Set OPENAI_API_KEY to go on with ${other.model}, or EMBEDDER=local to switch to the local embedder on purpose.`,
  );
}
