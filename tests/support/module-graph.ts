// Who imports whom, read from the sources' import lines: what the test map (ARCHITECTURE.md, "Tests by
// module") is checked against.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

const IMPORT = /(?:from\s+|import\s*\(\s*)["'](\.{1,2}\/[^"']+)["']/g;

/** The .ts files below `dir`, as paths from the repository's root. */
export const sourcesIn = (dir: string): string[] =>
  readdirSync(dir, { recursive: true })
    .map((file) => join(dir, String(file)))
    .filter((path) => path.endsWith(".ts"))
    .sort();

/** The repository's files that `file` imports by a relative path (a specifier's .js read as .ts). */
export function importsOf(file: string): string[] {
  const found = new Set<string>();
  for (const [, specifier] of readFileSync(file, "utf8").matchAll(IMPORT)) {
    const base = normalize(join(dirname(file), specifier!)).replace(/\.js$/, "");
    const path = [base, `${base}.ts`, join(base, "index.ts")].find((candidate) => candidate.endsWith(".ts") && existsSync(candidate));
    if (path) found.add(path);
  }
  return [...found];
}
