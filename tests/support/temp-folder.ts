// A folder of the test file's own outside the working tree, removed after its tests: nothing a test
// writes lands in the checkout, and two checkouts' runs never share one.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

export function tempFolder(what: string): string {
  const dir = mkdtempSync(join(tmpdir(), `qe-${what}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
