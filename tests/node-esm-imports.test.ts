// Vercel's Node.js runtime compiles each file on its own and Node's ESM resolves no extensionless
// import, so every relative import the functions reach names its .js file (TypeScript, esbuild, Vite and
// tsx map it to the .ts source). tests/deploy/vercel-build.test.ts proves the built output loads; this names the line.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const ROOTS = ["api", "netlify", "functions", "functions-node", "schema"];
const RELATIVE_IMPORT = /(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']*)["']/g;

describe("imports the Node.js functions reach", () => {
  it("name their .js file", () => {
    const bare: string[] = [];
    for (const root of ROOTS) {
      for (const file of readdirSync(root, { recursive: true })
        .map(String)
        .filter((f) => /\.tsx?$/.test(f))) {
        const source = readFileSync(`${root}/${file}`, "utf8");
        for (const [, specifier] of source.matchAll(RELATIVE_IMPORT)) {
          if (!/\.(js|json)$/.test(specifier!)) bare.push(`${root}/${file}: "${specifier}"`);
        }
      }
    }
    expect(bare).toEqual([]);
  });
});
