// `npm run lint` part: every dependency in package.json is used. A package counts as used when a
// source file imports it, or when it is a command or type package the project runs (listed below, each
// with why), so a dependency nobody needs any more is named and removed.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** Used without an import: commands run by scripts and CI, and type packages. */
const WITHOUT_IMPORT: Record<string, string> = {
  "@biomejs/biome": "the linter and formatter (npm run lint)",
  "drizzle-kit": "npm run db:generate",
  tsx: "runs every script",
  typescript: "npm test type-checks with tsc",
  vercel: "tests/deploy/vercel-build.test.ts runs vercel build",
  vite: "vitest's peer, pinned",
  "@types/node": "types",
  "@types/pg": "types",
  "@types/ws": "types",
  "@types/pg-copy-streams": "types",
};
const SOURCE_FOLDERS = ["api", "functions", "functions-node", "schema", "scripts", "tests", "testing", "bench", "netlify"];
const ROOT_FILES = ["drizzle.config.ts", "drizzle.sample.config.ts", "vitest.config.ts"];

const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".ts") ? [path] : [];
  });

const pkg = JSON.parse(readFileSync("package.json", "utf8")) as Record<string, Record<string, string>>;
const declared = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
const sources = [...SOURCE_FOLDERS.flatMap(files), ...ROOT_FILES].map((path) => readFileSync(path, "utf8")).join("\n");
const imported = (name: string) =>
  new RegExp(`(from |import\\(|require\\()["']${name.replace(/[/.]/g, "\\$&")}(/[^"']*)?["']`).test(sources);
const unused = declared.filter((name) => !WITHOUT_IMPORT[name] && !imported(name));
if (unused.length) {
  console.error(
    `Dependencies nobody imports: ${unused.join(", ")}. Remove them (npm uninstall), or say in scripts/check-dependencies.ts why they stay.`,
  );
  process.exit(1);
}
console.log(`${declared.length} dependencies, each used.`);
