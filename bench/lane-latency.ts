// Change → searchable latency per lane on the local stack (triggers, emulator, 50 ms embedding API).
import { eq } from "drizzle-orm";
import type { Database } from "../functions/db/database";
import { drain } from "../functions/drain";
import { communityComment, communityPost, course, embeddings } from "../schema";
import { openPglite } from "../scripts/lib/database";
import { startFakeStack } from "../testing/stack";
import { percentile } from "./corpus";

/** One change: when it was made (ms since the epoch) and how long until it was searchable. */
export type LaneSample = { at: number; ms: number };

export const latencyStats = (values: number[]) => ({ p50: percentile(values, 50), p95: percentile(values, 95) });

/** One change in each live lane, one after the other: a course (immediate lane) then a post (queued lane), each timed from its INSERT until its embedding is stored. */
export async function measurePair(db: Database, name: string) {
  const searchable = async (id: string) => (await db.$count(embeddings, eq(embeddings.contentId, id))) > 0;
  // From the INSERT until its embedding is stored.
  const measure = async (insert: Promise<{ id: string }[]>): Promise<LaneSample> => {
    const at = Date.now();
    const started = performance.now();
    const [row] = await insert;
    while (!(await searchable(row!.id))) {
      if (performance.now() - started > 120_000) throw new Error(`change ${name} not searchable after 120 s`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return { at, ms: performance.now() - started };
  };
  const immediate = await measure(
    db
      .insert(course)
      .values({ title: `Latency course ${name}` })
      .returning({ id: course.id }),
  );
  const queued = await measure(
    db
      .insert(communityPost)
      .values({ title: `Latency post ${name}` })
      .returning({ id: communityPost.id }),
  );
  return { immediate, queued };
}

/** Changes arrive at random points of a window: a pause of up to 300 ms after each pair. */
export const betweenChanges = () => new Promise((r) => setTimeout(r, Math.random() * 300));

/**
 * `samples` changes in each live lane on a running stack (`measurePair`), each pair followed by a pause
 * of up to 300 ms. `tag` keeps each call's titles apart.
 */
export async function measureLanes(db: Database, samples: number, tag = "") {
  const immediate: LaneSample[] = [];
  const queued: LaneSample[] = [];
  for (let i = 0; i < samples; i++) {
    const pair = await measurePair(db, `${tag}${i}`);
    immediate.push(pair.immediate);
    queued.push(pair.queued);
    await betweenChanges();
  }
  return { immediate, queued };
}

export async function laneLatency(samples = 30, latencyMs = 50) {
  const connection = await openPglite();
  await connection.migrate();
  const stack = await startFakeStack({ connection, forwardNotifications: true });
  stack.api.latencyMs = latencyMs;
  const { db } = stack.connection;
  try {
    const { immediate, queued } = await measureLanes(db, samples);
    // The batched lane waits for its doorbell at the minute's end, then one run (the drain's loop).
    await db.insert(communityComment).values(Array.from({ length: 50 }, (_, i) => ({ body: `Latency comment ${i}` })));
    const drainStarted = performance.now();
    await drain(stack.deps, { budgetMs: 60_000 });
    const drainMs = performance.now() - drainStarted;
    const ms = (values: LaneSample[]) => latencyStats(values.map((s) => s.ms));
    return {
      immediate: ms(immediate),
      queued: ms(queued),
      // A change lands uniformly within the minute: p50 waits 30 s, p95 57 s, plus the run itself.
      batched: { drainOf50Ms: drainMs, p50: 30_000 + drainMs, p95: 57_000 + drainMs },
    };
  } finally {
    await stack.close();
  }
}
