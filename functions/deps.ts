// What every function is made from. The Vercel entries hand it Neon-backed parts, the local stack
// and the tests hand it PGlite; a function never knows which (ARCHITECTURE.md §8, "Functions are built from what they are handed").
import type { Registry } from "../schema/registry.js";
import type { Config } from "./config.js";
import type { EmbeddingWriter } from "./core/store.js";
import type { Database } from "./db/database.js";
import type { BatchApi } from "./embedders/batch-api.js";
import type { Embedder } from "./embedders/embedder.js";
import type { Clock } from "./lib/budget.js";
import type { Publisher } from "./qstash/publisher.js";

export type Deps = {
  db: Database;
  embedder: Embedder;
  /** The shadow model's embedder (EMBEDDING_SHADOW_MODEL), during a model switch (functions/sets/). */
  shadowEmbedder?: Embedder;
  /** Absent when QStash is not configured: work then goes through the database queue. */
  publisher?: Publisher;
  config: Config;
  registry: Registry;
  /** What run budgets are measured on; the system clock unless a test hands in a fake one. */
  clock?: Clock;
  /** Where and how embeddings are written: an upsert on `db` unless a Node script hands in COPY (scripts/lib/copy-writer.ts). */
  writer?: EmbeddingWriter;
  /** OpenAI's Batch API (functions/batches.ts): built from the configuration unless handed in. */
  batchApi?: BatchApi;
};
