// The batches function as the platform runs it (bench/batch-live.ts): a process of its own, the database
// across the wire (DATABASE_URL, node-postgres as the Node.js functions open it), the Batch API elsewhere
// (a fake OpenAI server of its own, finishing each batch between runs). Prints a JSON line per run
// (bench/batch-runs.ts's BatchRun), then one with the totals. Before each run it prints `{"idle":…}` and
// waits for a line on stdin: the bench measures a window without a run between two. With
// BENCH_BATCHLIVE_PATH=drain, the drain's runs instead (the default path, no Batch API).
import { createInterface } from "node:readline";
import { nodePostgresDatabase } from "../functions-node/database";
import { startFakeOpenAI } from "../testing/fake-openai";
import { type BatchRun, fakeOpenAIDeps, runBatchesToEnd, runDrainsToEnd } from "./batch-runs";

const api = await startFakeOpenAI();
const database = nodePostgresDatabase(process.env.DATABASE_URL!);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const go = async () => {
  console.log(JSON.stringify({ idle: Date.now() }));
  await lines.next();
};
try {
  const onRun = (run: BatchRun) => console.log(JSON.stringify({ run }));
  const total =
    process.env.BENCH_BATCHLIVE_PATH === "drain"
      ? await runDrainsToEnd(fakeOpenAIDeps(database.db, api, false), onRun, 1000, go)
      : await runBatchesToEnd(fakeOpenAIDeps(database.db, api, true), api.batch, onRun, 1000, go);
  const cpu = process.cpuUsage();
  console.log(JSON.stringify({ total: { ...total, cpuSeconds: (cpu.user + cpu.system) / 1e6 } }));
} finally {
  process.stdin.destroy();
  await database.close();
  await api.close();
}
