// The content registry refuses, by name and with the fix, an entry the rest of the pipeline could not
// serve (ARCHITECTURE.md §4, "Adding a content type"): a name enqueue and search would refuse, or a
// name registered twice.
import { describe, expect, it } from "vitest";
import { createRegistry, defaultRegistry } from "../schema/registry";

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
