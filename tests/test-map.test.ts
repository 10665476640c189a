// ARCHITECTURE.md §12, "Tests by module", is complete and true: a newcomer finds a module's tests there.
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { importsOf, sourcesIn } from "./support/module-graph";

const section = readFileSync("ARCHITECTURE.md", "utf8").split("## 12. Tests by module")[1] ?? "";
const rows = new Map(
  [...section.matchAll(/^\| `(functions\/[^`]+)` \| (.+) \|$/gm)].map(([, module, cell]) => [
    module!,
    { through: cell!.match(/^through `([^`]+)`$/)?.[1], tests: [...cell!.matchAll(/`(tests\/[^`]+)`/g)].map((m) => m[1]!) },
  ]),
);

describe("the test map (ARCHITECTURE.md §12)", () => {
  it("has a row for every module of functions/, and none for a module that is gone", () => {
    expect([...rows.keys()].sort()).toEqual(sourcesIn("functions"));
  });

  it("names test files that import the module, or an importer that has tests of its own", () => {
    const wrong: string[] = [];
    for (const [module, row] of rows) {
      if (row.through) {
        if (!existsSync(row.through) || !importsOf(row.through).includes(module))
          wrong.push(`${module}: ${row.through} does not import it`);
        else if (!rows.get(row.through)?.tests.length) wrong.push(`${module}: ${row.through} has no tests of its own`);
      } else if (!row.tests.length) wrong.push(`${module}: names no test file`);
      for (const test of row.tests)
        if (!existsSync(test) || !importsOf(test).includes(module)) wrong.push(`${module}: ${test} does not import it`);
    }
    expect(wrong).toEqual([]);
  });
});
