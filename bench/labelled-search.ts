// The labelled set (labelled-set.ts) with the configured embedder (OPENAI_API_KEY and EMBEDDING_MODEL,
// or the local one): relevant rows each mode finds in its top 10, per query and in all.
import { loadConfig } from "../functions/config";
import { processItems } from "../functions/core/process";
import type { Deps } from "../functions/deps";
import { createEmbedder } from "../functions/embedders";
import { search } from "../functions/search";
import { createRegistry } from "../schema/registry";
import { openBenchDatabase } from "./bench-database";
import { insertLabelledSet, labelledQueries, relevantIn } from "./labelled-set";

const MODES = ["vector", "keyword", "hybrid"] as const;

export async function labelledSearch() {
  const connection = await openBenchDatabase();
  try {
    const config = loadConfig(process.env);
    const embedder = createEmbedder(config);
    const deps: Deps = { db: connection.db, config, registry: createRegistry(), embedder };
    const { items, keyOf } = await insertLabelledSet(connection.db);
    await processItems(deps, items);
    const rows: Record<string, string | number>[] = [];
    for (const { query, relevant } of labelledQueries) {
      const row: Record<string, string | number> = { query, relevant: relevant.length };
      for (const mode of MODES) {
        const { results } = await search(deps, { query, limit: 10, minScore: -1, mode }, "admin");
        row[mode] = relevantIn(
          results.map((hit) => keyOf(hit.contentType, hit.contentId)),
          relevant,
        );
      }
      rows.push(row);
    }
    const total = (key: string) => rows.reduce((sum, row) => sum + Number(row[key]), 0);
    rows.push({ query: "all", relevant: total("relevant"), vector: total("vector"), keyword: total("keyword"), hybrid: total("hybrid") });
    return { model: embedder.model, rows };
  } finally {
    await connection.close();
  }
}
