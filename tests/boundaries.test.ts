// Where code may live, read from the sources: the queue's states have one owner, and the benchmarks lean
// on nothing of the tests' own plumbing.
import { readdirSync, readFileSync } from "node:fs";
import { posix } from "node:path";
import { describe, expect, it } from "vitest";

const sources = (dir: string) =>
  readdirSync(dir, { recursive: true })
    .map(String)
    .map((file) => file.replaceAll("\\", "/"))
    .filter((file) => file.endsWith(".ts"))
    .map((file) => ({ path: `${dir}/${file}`, text: readFileSync(`${dir}/${file}`, "utf8") }));

/** A write of embedding_queue rows: through Drizzle, in SQL, or through the capture SQL function. */
const QUEUE_WRITE =
  /\.(insert|update|delete)\(embeddingQueue\)|\b(INSERT INTO|UPDATE|DELETE FROM)\s+embedding_queue\b|queue_for_embedding\(/i;

describe("boundaries", () => {
  it("only functions/queue/ writes embedding_queue rows (the triggers' SQL function aside, in schema/)", () => {
    const writers = [...sources("functions"), ...sources("scripts")]
      .filter((file) => !file.path.startsWith("functions/queue/") && QUEUE_WRITE.test(file.text))
      .map((file) => file.path);
    expect(writers).toEqual([]);
  });

  it("bench/ and testing/ import nothing from tests/", () => {
    const importers = [...sources("bench"), ...sources("testing")]
      .filter((file) => /from\s+["'][./]*tests\//.test(file.text))
      .map((file) => file.path);
    expect(importers).toEqual([]);
  });
});

/**
 * The layers, lowest first (ARCHITECTURE.md §10): a module imports only from its own layer or a lower
 * one. A folder (ending in /) or a file names its layer; `functions/*.ts` stands for every other file of
 * functions/ itself: the routers, one per function (a new one falls there).
 */
const LAYERS: readonly (readonly string[])[] = [
  ["schema/"],
  ["functions/lib/"],
  ["functions/endpoints.ts"],
  ["functions/db/"],
  ["functions/embedders/"],
  ["functions/cost/"],
  ["functions/queue/"],
  ["functions/sets/"],
  ["functions/core/"],
  ["functions/config.ts"],
  ["functions/qstash/"],
  ["functions/deps.ts"],
  ["functions/http/"],
  ["functions/enqueue/", "functions/drain/", "functions/search/", "functions/status/", "functions/batch/"],
  ["functions/*.ts"],
  ["functions/routers.ts", "functions/app.ts", "functions/edge.ts"],
  ["functions-node/"],
];

const ROUTER = /^functions\/[^/]+\.ts$/;
const layerOf = (path: string) => {
  const named = LAYERS.findIndex((layer) => layer.some((prefix) => path.startsWith(prefix)));
  return named >= 0 || !ROUTER.test(path) ? named : LAYERS.findIndex((layer) => layer.includes("functions/*.ts"));
};

/** Every relative import (static, re-export, side effect or dynamic) of `text`, as a path from the root. */
function importsOf(path: string, text: string): string[] {
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b[^;'"]*?\bfrom\s*["']([^"']+)["']/gm),
    ...text.matchAll(/^\s*import\s*["']([^"']+)["']/gm),
    ...text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g),
  ].map((m) => m[1]!);
  return specifiers
    .filter((s) => s.startsWith("."))
    .map((s) =>
      posix
        .normalize(posix.join(posix.dirname(path), s))
        .replace(/\.js$/, ".ts")
        .replace(/(?<!\.ts)$/, ".ts"),
    );
}

/** The import graph of the deployed code: functions/, functions-node/ and schema/. */
function importGraph(): Map<string, string[]> {
  const files = [...sources("functions"), ...sources("functions-node"), ...sources("schema")];
  return new Map(files.map((file) => [file.path, importsOf(file.path, file.text)]));
}

/** The graph's cycles (strongly connected components of more than one module, or a module importing itself). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component = stack.splice(stack.indexOf(v));
    if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe("layers", () => {
  const graph = importGraph();

  it("every module of functions/, functions-node/ and schema/ has a layer, and every import names a module", () => {
    expect([...graph.keys()].filter((path) => layerOf(path) < 0)).toEqual([]);
    const missing = [...graph].flatMap(([from, to]) => to.filter((path) => !graph.has(path)).map((path) => `${from} → ${path}`));
    expect(missing).toEqual([]);
  });

  it("no import runs from a lower layer to a higher one", () => {
    const upward = [...graph].flatMap(([from, to]) =>
      to.filter((path) => layerOf(path) > layerOf(from)).map((path) => `${from} → ${path}`),
    );
    expect(upward).toEqual([]);
  });

  it("the import graph has no cycle", () => {
    expect(cycles(graph)).toEqual([]);
  });
});
