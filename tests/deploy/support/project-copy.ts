// A copy of the repository to build in, as a platform's build machine gets it: the platforms' builds write
// their output (and `vercel build` its `.vercel/project.json`) there, never into the working tree. The
// installed node_modules are hard-linked, not copied: instant, and the builds trace real files from them.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

/** What a build never gets: the local database, other builds' output, git, the installed packages (linked after). */
const LEFT_OUT = new Set(["node_modules", ".git", ".data", ".vercel", ".netlify", "dist"]);

export type ProjectCopy = { dir: string; remove(): void };

export function copyProject(root = process.cwd()): ProjectCopy {
  const dir = mkdtempSync(join(tmpdir(), "qstash-embeddings-build-"));
  cpSync(root, dir, { recursive: true, filter: (source) => !LEFT_OUT.has(relative(root, source).split("/")[0]!) });
  execFileSync("cp", ["-al", join(root, "node_modules"), join(dir, "node_modules")]);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
