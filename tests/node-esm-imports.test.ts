// One import-specifier rule (ARCHITECTURE.md §10, "Import specifiers"). Vercel's Node.js runtime compiles
// each file on its own and Node's ESM resolves no extensionless import, so every relative import of the
// deployed code names its .js file (TypeScript, esbuild, Vite and tsx map it to the .ts source; Deno,
// which does not, gets an esbuild bundle: scripts/build-netlify.ts). tests/deploy/vercel-build.test.ts
// proves the built output loads; this names the line. The tools (run by tsx and vitest alone, never
// deployed) name no extension, so that a line is never half one and half the other.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const DEPLOYED = ["api", "netlify", "functions", "functions-node", "schema"];
const TOOLS = ["scripts", "testing", "tests", "bench"];
const RELATIVE_IMPORT = /(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']*)["']/g;

/** Every relative specifier under `roots` that `allowed` refuses, with its file. */
function refused(roots: string[], allowed: (specifier: string) => boolean): string[] {
  const found: string[] = [];
  for (const root of roots) {
    for (const file of readdirSync(root, { recursive: true })
      .map(String)
      .filter((f) => /\.tsx?$/.test(f) && !f.includes("node_modules"))) {
      const source = readFileSync(`${root}/${file}`, "utf8");
      for (const [, specifier] of source.matchAll(RELATIVE_IMPORT)) {
        if (!allowed(specifier!)) found.push(`${root}/${file}: "${specifier}"`);
      }
    }
  }
  return found;
}

describe("relative imports", () => {
  it("of the deployed code name their .js file", () => {
    expect(refused(DEPLOYED, (specifier) => /\.(js|json)$/.test(specifier))).toEqual([]);
  });

  it("of the tools name no extension (a .ts one only inside a bundler's input text)", () => {
    const inBundlerInput = (specifier: string) => /^\.\/(functions|netlify)\/.*\.ts$/.test(specifier);
    expect(refused(TOOLS, (specifier) => !/\.(js|ts|mjs)$/.test(specifier) || inBundlerInput(specifier))).toEqual([]);
  });
});
