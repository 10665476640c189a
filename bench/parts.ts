// Each part of `npm run bench` says, before it starts, how long it took the last time it ran on this
// machine, and after, how long it took now; the run ends with a table of them. The last times are kept
// in the system's temporary folder (never the checkout), a file per database kind.
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const seconds = (ms: number) =>
  ms < 60_000 ? `${Math.round(ms / 1000)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;

export function benchParts(wanted: Set<string>, database = process.env.BENCH_DATABASE_URL ? "postgres" : "pglite") {
  const file = join(tmpdir(), `qstash-embeddings-bench-times-${database}.json`);
  let last: Record<string, number> = {};
  try {
    last = JSON.parse(readFileSync(file, "utf8")) as Record<string, number>;
  } catch {
    // no earlier run here
  }
  const took: Record<string, number> = {};
  const known = [...wanted].filter((name) => last[name] !== undefined);
  const before = (name: string) => (last[name] === undefined ? "no earlier run here" : `about ${seconds(last[name])} last time`);

  return {
    /** What will run, and how long it took last time, as one line. */
    summary: () =>
      `Parts: ${[...wanted].map((name) => `${name} (${before(name)})`).join(", ")}.` +
      (known.length === wanted.size ? ` About ${seconds(known.reduce((sum, name) => sum + last[name]!, 0))} in all.` : ""),
    async part(name: string, run: () => Promise<void>) {
      if (!wanted.has(name)) return;
      console.log(`\n== ${name} (${before(name)})`);
      const start = performance.now();
      await run();
      took[name] = performance.now() - start;
      console.log(`== ${name} took ${seconds(took[name])}`);
      writeFileSync(file, JSON.stringify({ ...last, ...took }));
      if (Object.keys(took).length === wanted.size) {
        console.log("\nHow long each part took:");
        console.table(Object.fromEntries(Object.entries(took).map(([part, ms]) => [part, { took: seconds(ms) }])));
      }
    },
  };
}
