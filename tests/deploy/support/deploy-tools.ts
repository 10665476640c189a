// The platforms' own tools for `npm run test:deploy`, installed by the tests themselves into a cache folder
// (not package.json: every `npm install` would pay for them): netlify-cli, Deno (its npm package ships the
// binary) and Node.js 22 (the `node` package ships it), the runtimes Netlify and Vercel run the built
// functions on. Installed once a version set (about 600 MB, two minutes); DEPLOY_TOOLS_DIR moves the cache.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const DEPLOY_TOOLS = { "netlify-cli": "27.10.2", deno: "2.9.6", node: "22.23.3" } as const;

export type DeployTools = { dir: string; bin: string; node22: string; deno: string; netlify: string };

/** The tools' folder, installing what it lacks with npm. */
export function deployTools(): DeployTools {
  const key = Object.entries(DEPLOY_TOOLS)
    .map(([name, version]) => `${name}@${version}`)
    .join(" ");
  const base = process.env.DEPLOY_TOOLS_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "qstash-embeddings");
  const dir = join(base, "deploy-tools");
  const bin = join(dir, "node_modules", ".bin");
  const stamp = join(dir, "installed.txt");
  if (!existsSync(stamp) || readFileSync(stamp, "utf8") !== key) {
    mkdirSync(dir, { recursive: true });
    execFileSync("npm", ["install", "--prefix", dir, "--save-exact", "--no-audit", "--no-fund", "--loglevel=error", ...key.split(" ")], {
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 900_000,
    });
    writeFileSync(stamp, key);
  }
  return { dir, bin, node22: join(bin, "node"), deno: join(bin, "deno"), netlify: join(bin, "netlify") };
}
