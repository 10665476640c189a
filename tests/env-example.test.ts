// .env.example lists every variable functions/config.ts reads, each under a comment of its own, with no
// value in it (no secret can be committed there), and as it stands it is a valid configuration.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ENV_VARIABLES, loadConfig } from "../functions/config";

const lines = readFileSync(".env.example", "utf8").split("\n");
const settings = lines.flatMap((line, i) => {
  const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
  return match ? [{ name: match[1]!, value: match[2]!, comment: lines[i - 1] ?? "" }] : [];
});

describe(".env.example", () => {
  it("names every variable the configuration reads, once, and no other", () => {
    expect(settings.map((s) => s.name).sort()).toEqual([...ENV_VARIABLES].sort());
  });

  it("gives each a one-line comment and no value", () => {
    expect(settings.filter((s) => !/^# \S/.test(s.comment)).map((s) => s.name)).toEqual([]);
    expect(settings.filter((s) => s.value !== "").map((s) => s.name)).toEqual([]);
  });

  it("is a valid configuration as it stands", () => {
    expect(() => loadConfig(Object.fromEntries(settings.map((s) => [s.name, s.value])))).not.toThrow();
  });
});
