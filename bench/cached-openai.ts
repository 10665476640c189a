// The benchmarks' embeddings API: bench/cached-openai-child.ts in a process of its own, its vectors
// computed in a warm-up (`warm`) before the timed part, so that answering costs the shared cores next
// to nothing, as the real API's work does. `warmDrain` warms it with the chunks a drain of the queued
// backlog will send, found by the pipeline's own load, format and chunk stages.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { chunkText, DEFAULT_CHUNKING } from "../functions/core/chunk";
import { formatRows } from "../functions/core/format";
import { loadRows } from "../functions/core/load";
import { type Database, rowsOf } from "../functions/db/database";
import type { Registry } from "../schema/registry";

export type CachedRequest = { inputs: number; tokens: number; at: number; misses: number };
export type CachedOpenAI = {
  url: string;
  warm(texts: string[]): Promise<number>;
  requests(): Promise<CachedRequest[]>;
  reset(): Promise<void>;
  close(): Promise<void>;
};

const child = fileURLToPath(new URL("./cached-openai-child.ts", import.meta.url));

export async function startCachedOpenAI(latencyMs: number, dimensions = 1536): Promise<CachedOpenAI> {
  const process = fork(child, [String(latencyMs), String(dimensions)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let failed: ((error: Error) => void) | undefined;
  process.on("exit", (code) => failed?.(new Error(`the cached OpenAI process exited (${code})`)));
  const next = <T>() =>
    new Promise<T>((resolve, reject) => {
      failed = reject;
      process.once("message", (message) => resolve(message as T));
    });
  const { url } = await next<{ url: string }>();
  const ask = <T>(command: string, texts?: string[]) => {
    const answer = next<T>();
    process.send({ command, texts });
    return answer;
  };
  return {
    url,
    warm: (texts) => ask("warm", texts),
    requests: () => ask("requests"),
    reset: () => ask("reset"),
    close: async () => {
      failed = undefined;
      process.disconnect();
    },
  };
}

/** Warms the API with every chunk of the queued items' rows as they are now. */
export async function warmDrain(api: CachedOpenAI, db: Database, registry: Registry): Promise<number> {
  const items = await rowsOf<{ contentType: string; contentId: string }>(
    db.execute(sql`SELECT content_type AS "contentType", content_id AS "contentId" FROM embedding_queue`),
  );
  const texts: string[] = [];
  for (let i = 0; i < items.length; i += 1000) {
    const loaded = await loadRows(db, registry, items.slice(i, i + 1000));
    for (const { text } of formatRows(loaded.found).documents) texts.push(...chunkText(text, DEFAULT_CHUNKING));
  }
  return api.warm(texts);
}
