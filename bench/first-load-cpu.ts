// `BENCH_DATABASE_URL=… npx tsx bench/first-load-cpu.ts [items]`: a first load (`drainBacklog`, no
// index while loading, the index build left out) under the V8 CPU profiler, the API warmed before
// (bench/cached-openai.ts), and the drain process's CPU time summed by where it is spent (self time of
// each function, grouped by file). Prints the groups; writes the whole profile to first-load.cpuprofile in the temporary directory.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../functions/config";
import { dropHnswIndex } from "../functions/db/hnsw-index";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { openaiEmbedder } from "../functions/embedders/openai";
import { communityPost } from "../schema";
import { createRegistry } from "../schema/registry";
import { openBenchDatabase } from "./bench-database";
import { startCachedOpenAI, warmDrain } from "./cached-openai";
import { realisticText, seededRandom } from "./corpus";

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

const n = Number(process.argv[2] ?? 5000);
const database = await openBenchDatabase();
const api = await startCachedOpenAI(50);
const random = seededRandom(n);
try {
  for (let i = 0; i < n; i += 1000) {
    await database.db
      .insert(communityPost)
      .values(Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ title: `Post ${i + j}`, body: realisticText(random) })));
  }
  const registry = createRegistry();
  await warmDrain(api, database.db, registry);
  const deps: Deps = {
    db: database.db,
    registry,
    config: loadConfig({ DRAIN_BATCH_SIZE: "1000" }),
    embedder: openaiEmbedder({
      apiKey: "test-openai-key",
      baseURL: api.url,
      model: "text-embedding-3-small",
      dimensions: 1536,
      encoding: "base64",
    }),
  };
  await dropHnswIndex(database.db);
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 200 });
  await session.post("Profiler.start");
  const started = performance.now();
  // drainBacklog's two concurrent runs, without its index build.
  await Promise.all(
    [0, 1].map(async () => {
      const session = await database.copySession?.();
      try {
        while ((await drain({ ...deps, writer: session?.writer }, { budgetMs: 600_000 })).remaining > 0);
      } finally {
        session?.release();
      }
    }),
  );
  const wallMs = performance.now() - started;
  const { profile } = (await session.post("Profiler.stop")) as { profile: Profile };
  const file = join(tmpdir(), "first-load.cpuprofile");
  writeFileSync(file, JSON.stringify(profile));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++)
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + profile.timeDeltas[i]! / 1000);
  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const node of profile.nodes) {
    const ms = self.get(node.id) ?? 0;
    const { url, functionName, lineNumber } = node.callFrame;
    const file =
      url
        .replace(/^.*node_modules\//, "npm:")
        .replace(/^.*\/(functions|bench|scripts|schema)\//, "$1/")
        .replace(/^node:/, "node:") || `(${functionName || "native"})`;
    const group = file.startsWith("npm:")
      ? file
          .split("/")
          .slice(0, file.startsWith("npm:@") ? 2 : 1)
          .join("/")
      : file;
    groups.set(group, (groups.get(group) ?? 0) + ms);
    const fn = `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + ms);
  }
  const total = [...self.values()].reduce((s, x) => s + x, 0);
  console.log(`${file}\n${n} items, wall ${Math.round(wallMs)} ms, profiled ${Math.round(total)} ms (idle included as "(idle)")`);
  const top = (map: Map<string, number>, k: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, ms]) => ({ name, "ms / 1k items": Math.round((ms * 1000) / n), share: `${Math.round((ms / total) * 100)}%` }));
  console.table(top(groups, 20));
  console.table(top(functions, 25));
} finally {
  await api.close();
  await database.close();
}
