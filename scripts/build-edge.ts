// Bundles each edge function's entry (Netlify's, in netlify/edge-functions/) as a Workers-style module
// with esbuild, as the edge runtimes do, and reports its size. `npm run build:edge` prints the table; the
// tests load the bundles in miniflare. Building fails if a function reaches a Node built-in, PGlite or pg.
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";
import { ENDPOINT_LIST, type EndpointName } from "../functions/endpoints";

const root = fileURLToPath(new URL("..", import.meta.url));

/**
 * The functions that stay on the edge (functions/endpoints.ts): short requests, well under 50 ms of CPU
 * (tests/e2e/edge-cpu.test.ts). Each is a Netlify entry in netlify/edge-functions/; Vercel's (api/, runtime
 * "edge") share the routers. The rest run on Node.js (netlify/functions/, api/ with maxDuration).
 */
export const EDGE_FUNCTIONS: EndpointName[] = ENDPOINT_LIST.filter((e) => e.runtime.kind === "edge").map((e) => e.name);

const FORBIDDEN = /(^|\/)node_modules\/(@electric-sql\/pglite|pg|pg-[a-z-]+|postgres)\//;

export type EdgeBundle = { name: string; path: string; code: string; bytes: number; gzipBytes: number };

/**
 * One self-contained ES module for an edge runtime (workerd, Netlify's Deno): esbuild resolves the `.js`
 * specifiers of our `.ts` sources, which Deno does not, and inlines every package. Refuses Node-only code.
 */
export async function bundleForEdge(
  stdin: { contents: string; resolveDir: string; sourcefile: string },
  name: string,
  options: { minify?: boolean; conditions?: string[] } = {},
): Promise<string> {
  const result = await esbuild.build({
    stdin: { ...stdin, loader: "ts" },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: options.minify ?? true,
    metafile: true,
    write: false,
    conditions: options.conditions ?? ["workerd", "worker", "edge-light", "browser"],
    logLevel: "silent",
  });
  const forbidden = Object.keys(result.metafile.inputs).filter((input) => FORBIDDEN.test(input));
  if (forbidden.length) throw new Error(`${name} bundles Node-only code: ${forbidden.join(", ")}`);
  return result.outputFiles[0]!.text;
}

/** Every function on one app, bundled as the edge entries are: proof that all of functions/ stays edge-safe. */
export const ALL_FUNCTIONS = "all-functions";

/** `prelude`: source run before each entry (tests point Neon's driver at a local relay with it). */
export async function buildEdgeBundles(outDir = `${root}dist/edge`, prelude = ""): Promise<EdgeBundle[]> {
  mkdirSync(outDir, { recursive: true });
  const bundles: EdgeBundle[] = [];
  for (const name of [...EDGE_FUNCTIONS, ALL_FUNCTIONS]) {
    // The Netlify entry as it is; workerd hands the environment to fetch, Netlify to its global.
    const entry = `${prelude}
${
  name === ALL_FUNCTIONS
    ? `import { allFunctionsRouter } from "./functions/app.ts"; import { netlifyHandler } from "./functions/edge.ts";
const handler = netlifyHandler(allFunctionsRouter);`
    : `import handler from "./netlify/edge-functions/${name}.ts";`
}
export default { fetch(request, env) { globalThis.Netlify ??= { env: { toObject: () => env } }; return handler(request); } };`;
    const code = await bundleForEdge({ contents: entry, resolveDir: root, sourcefile: `${name}.edge.ts` }, name);
    const path = `${outDir}/${name}.js`;
    writeFileSync(path, code);
    bundles.push({ name, path, code, bytes: Buffer.byteLength(code), gzipBytes: gzipSync(code).length });
  }
  return bundles;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const bundles = await buildEdgeBundles();
  console.table(
    bundles.map((b) => ({ function: b.name, "raw KB": (b.bytes / 1024).toFixed(1), "gzip KB": (b.gzipBytes / 1024).toFixed(1) })),
  );
}
