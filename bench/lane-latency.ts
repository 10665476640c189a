// Change → searchable latency per lane on the local stack (triggers, emulator, 50 ms embedding API).
import { eq } from "drizzle-orm";
import { drain } from "../functions/drain";
import { communityComment, communityPost, course, embeddings } from "../schema";
import { openPglite } from "../scripts/lib/database";
import { startFakeStack } from "../testing/stack";
import { percentile } from "./corpus";

export async function laneLatency(samples = 30, latencyMs = 50) {
  const connection = await openPglite();
  await connection.migrate();
  const stack = await startFakeStack({ connection, forwardNotifications: true });
  stack.api.latencyMs = latencyMs;
  const { db } = stack.connection;
  const searchable = async (id: string) => (await db.$count(embeddings, eq(embeddings.contentId, id))) > 0;
  const measure = async (insert: () => Promise<string>) => {
    const started = performance.now();
    const id = await insert();
    while (!(await searchable(id))) await new Promise((r) => setTimeout(r, 5));
    return performance.now() - started;
  };
  try {
    const immediate: number[] = [];
    const queued: number[] = [];
    for (let i = 0; i < samples; i++) {
      immediate.push(
        await measure(
          async () =>
            (
              await db
                .insert(course)
                .values({ title: `Latency course ${i}` })
                .returning()
            )[0]!.id,
        ),
      );
      queued.push(
        await measure(
          async () =>
            (
              await db
                .insert(communityPost)
                .values({ title: `Latency post ${i}` })
                .returning()
            )[0]!.id,
        ),
      );
      await new Promise((r) => setTimeout(r, Math.random() * 300)); // changes arrive at random points of a window
    }
    // The batched lane waits for its doorbell at the minute's end, then one run (the drain's loop).
    await db.insert(communityComment).values(Array.from({ length: 50 }, (_, i) => ({ body: `Latency comment ${i}` })));
    const drainStarted = performance.now();
    await drain(stack.deps, { budgetMs: 60_000 });
    const drainMs = performance.now() - drainStarted;
    const stats = (values: number[]) => ({ p50: percentile(values, 50), p95: percentile(values, 95) });
    return {
      immediate: stats(immediate),
      queued: stats(queued),
      // A change lands uniformly within the minute: p50 waits 30 s, p95 57 s, plus the run itself.
      batched: { drainOf50Ms: drainMs, p50: 30_000 + drainMs, p95: 57_000 + drainMs },
    };
  } finally {
    await stack.close();
  }
}
