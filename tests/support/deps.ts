// What a function is made from (functions/deps.ts), for tests: the database they hold, the sample
// registry, the local embedder and a configuration read from `env`, each replaceable.
import { loadConfig } from "../../functions/config";
import type { Database } from "../../functions/db/database";
import type { Deps } from "../../functions/deps";
import { localEmbedder } from "../../functions/embedders/local";
import { createRegistry } from "../../schema/registry";

export function testDeps(db: Database, parts: Partial<Deps> & { env?: Record<string, string> } = {}): Deps {
  const { env = {}, ...rest } = parts;
  return { db, config: loadConfig(env), registry: createRegistry(), embedder: localEmbedder(1536), ...rest };
}
