// Bundles each function's edge entry (Netlify's, in netlify/edge-functions/) as a Workers-style
// module with esbuild, as the edge runtimes do, and reports its size. `npm run build:edge` prints the table; the tests load the bundles
// in miniflare. Building fails if a function reaches a Node built-in, PGlite or pg.
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Each function's Netlify entry (netlify/edge-functions/); the api/ entries are Vercel's, same factories. */
export const EDGE_FUNCTIONS = ["enqueue", "process-webhook", "drain", "maintenance", "retry-failed", "search", "status"] as const;

const FORBIDDEN = /(^|\/)node_modules\/(@electric-sql\/pglite|pg|pg-[a-z-]+|postgres)\//;

export type EdgeBundle = { name: string; path: string; code: string; bytes: number; gzipBytes: number };

export async function buildEdgeBundles(outDir = `${root}dist/edge`): Promise<EdgeBundle[]> {
  mkdirSync(outDir, { recursive: true });
  const bundles: EdgeBundle[] = [];
  for (const name of EDGE_FUNCTIONS) {
    // The Netlify entry as it is; workerd hands the environment to fetch, Netlify to its global.
    const entry = `import handler from "./netlify/edge-functions/${name}";
export default { fetch(request, env) { globalThis.Netlify ??= { env: { toObject: () => env } }; return handler(request); } };`;
    const result = await esbuild.build({
      stdin: { contents: entry, resolveDir: root, loader: "ts", sourcefile: `${name}.edge.ts` },
      bundle: true, format: "esm", platform: "browser", target: "es2022", minify: true, metafile: true, write: false,
      conditions: ["workerd", "worker", "edge-light", "browser"],
      logLevel: "silent",
    });
    const forbidden = Object.keys(result.metafile.inputs).filter((input) => FORBIDDEN.test(input));
    if (forbidden.length) throw new Error(`${name} bundles Node-only code: ${forbidden.join(", ")}`);
    const code = result.outputFiles[0]!.text;
    const path = `${outDir}/${name}.js`;
    writeFileSync(path, code);
    bundles.push({ name, path, code, bytes: Buffer.byteLength(code), gzipBytes: gzipSync(code).length });
  }
  return bundles;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const bundles = await buildEdgeBundles();
  console.table(bundles.map((b) => ({ function: b.name, "raw KB": (b.bytes / 1024).toFixed(1), "gzip KB": (b.gzipBytes / 1024).toFixed(1) })));
}
