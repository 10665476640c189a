// The content registry refuses, by name and with the fix, an entry the rest of the pipeline could not
// serve (ARCHITECTURE.md §4, "Adding a content type"): a name enqueue and search would refuse, or a
// name registered twice.
import { readFileSync } from "node:fs";
import { getTableName } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { laneFor } from "../functions/lib/lanes";
import { createRegistry, defaultRegistry } from "../schema/registry";
import { markdownTable } from "./support/markdown";

const post = defaultRegistry.find((entry) => entry.type === "post")!;
const named = (type: string) => ({ ...post, type });

describe("a content type's name", () => {
  it("is accepted as the sample types have it: lower case, digits and _", () => {
    expect(() => createRegistry()).not.toThrow();
    expect(() => createRegistry([named("blog_post2")])).not.toThrow();
    expect(() => createRegistry([named("p".repeat(63))])).not.toThrow();
  });

  it.each([
    ["Post", /content type "Post": a name is a lower-case letter.*e\.g\. "post"/],
    ["blog-post", /content type "blog-post".*e\.g\. "blog_post"/],
    ["2posts", /content type "2posts".*e\.g\. "posts"/],
    ["", /content type "": a name is/],
    ["p".repeat(64), /63 characters at most/],
  ])("refuses %j, saying what a name is", (type, message) => {
    expect(() => createRegistry([named(type)])).toThrow(message);
  });

  it("refuses a name registered twice", () => {
    expect(() => createRegistry([post, { ...post }])).toThrow('content type "post" is registered twice');
  });
});

describe("README's sample tables", () => {
  it("lists every registered type with its table, lane and priority, and nothing else", () => {
    const rows = markdownTable(readFileSync("README.md", "utf8"), "| table | content type | lane (priority) |").map((row) =>
      row.slice(0, 3),
    );
    expect(rows.length).toBeGreaterThan(0);
    const expected = defaultRegistry.map((e) => [
      `\`${getTableName(e.table)}\``,
      `\`${e.type}\``,
      `${laneFor(e.priority)} (${e.priority})`,
    ]);
    expect(rows.sort()).toEqual(expected.sort());
  });
});
