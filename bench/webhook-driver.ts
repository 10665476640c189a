// QStash spend and latency through a per-row webhook driver (issue 22's targets, BENCHMARKS.md): one
// `enqueue` HTTP call per row, as a Supabase or Hasura database webhook makes, against the local stack
// (Free plan emulator, QStash's own retry back-off, 50 ms embedding API, CHANGES_VIA=enqueue). Every
// publish request the pipeline makes is counted here, at the publisher, deduplicated or not.
import { inArray } from "drizzle-orm";
import { FALLBACK_LANE } from "../functions/qstash/doorbells";
import type { Message, Publisher } from "../functions/qstash/publisher";
import { freeLanes } from "../functions/queue";
import { communityComment, communityPost, course, embeddings } from "../schema";
import { firesPerDay, schedulesFrom } from "../scripts/lib/schedules";
import { type FakeStack, startFakeStack } from "../testing/stack";
import { percentile } from "./corpus";
import { benchDatabase } from "./doorbells";

const TABLES = {
  course: { table: course, name: "course" },
  post: { table: communityPost, name: "community_post" },
  comment: { table: communityComment, name: "community_comment" },
};
type Kind = keyof typeof TABLES;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** QStash's back-off: "delay = min(86400, e ** (2.5*n))" seconds (docs: features/retry). */
const qstashBackoff = (retry: number) => Math.min(86_400, Math.exp(2.5 * retry)) * 1000;

type Published = { at: number; message: Message };

async function benchStack(env: Record<string, string>, serverUrl?: string) {
  const connection = await benchDatabase(serverUrl);
  // One injected failure at a time: the emulator does not read Upstash-Retry-Delay, so the driver applies
  // the failed doorbell's own (1 s for the immediate lane's first retry) and QStash's back-off otherwise.
  const failing = { next: new Set<string>(), retryDelayMs: undefined as number | undefined };
  const stack = await startFakeStack({
    connection,
    env: { CHANGES_VIA: "enqueue", QSTASH_PLAN: "free", ...env },
    emulator: {
      backoff: (retry) => {
        const delay = failing.retryDelayMs ?? qstashBackoff(retry);
        failing.retryDelayMs = undefined;
        return delay;
      },
    },
  });
  stack.api.latencyMs = 50;
  stack.emulator!.emulator.faults = {
    failDelivery: (m) => {
      const lane = (JSON.parse(m.body) as { doorbell?: string }).doorbell;
      if (!lane || !failing.next.delete(lane)) return false;
      failing.retryDelayMs = lane === "immediate" ? 1000 : undefined;
      return true;
    },
  };
  const published: Published[] = [];
  const real = stack.deps.publisher!;
  const counting: Publisher = {
    publish: (messages) => {
      for (const message of messages) published.push({ at: Date.now(), message });
      return real.publish(messages);
    },
    reachable: () => real.reachable(),
  };
  stack.deps.publisher = counting;
  return { stack, published, failing };
}

/** Inserts a row and reports it to enqueue as a Supabase INSERT webhook; answers its id and when. */
async function changeRow(stack: FakeStack, kind: Kind, n: number): Promise<{ id: string; at: number }> {
  const { table, name } = TABLES[kind];
  const values = kind === "comment" ? { body: `Driver comment ${n}` } : { title: `Driver ${kind} ${n}` };
  const [row] = (await stack.connection.db
    .insert(table)
    .values(values as never)
    .returning()) as { id: string }[];
  const at = performance.now();
  const response = await stack.post("enqueue", { type: "INSERT", table: name, schema: "public", record: row, old_record: null });
  if (response.status !== 202) throw new Error(`enqueue answered ${response.status}`);
  return { id: row!.id, at };
}

/**
 * Polls until every id has a vector; answers each id's time from its change. `expected`: how many changes
 * `changes` will hold, when the driver is still adding to it (the poll runs beside the driver).
 */
async function searchable(
  stack: FakeStack,
  changes: { id: string; at: number }[],
  timeoutMs: number,
  expected = changes.length,
): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  const deadline = performance.now() + timeoutMs;
  while ((times.size < expected || times.size < changes.length) && performance.now() < deadline) {
    const waiting = changes.filter((c) => !times.has(c.id));
    for (let i = 0; i < waiting.length; i += 500) {
      const part = waiting.slice(i, i + 500);
      const found = await stack.connection.db
        .selectDistinct({ id: embeddings.contentId })
        .from(embeddings)
        .where(
          inArray(
            embeddings.contentId,
            part.map((c) => c.id),
          ),
        );
      const now = performance.now();
      for (const { id } of found) times.set(id, now - part.find((c) => c.id === id)!.at);
    }
    await sleep(200);
  }
  return times;
}

const quiet = async (stack: FakeStack) => {
  while (stack.emulator!.emulator.messages.size > 0) await sleep(50);
};
const stats = (values: number[]) => ({
  n: values.length,
  p50: percentile(values, 50),
  p95: percentile(values, 95),
  max: Math.max(...values),
});

/** Isolated changes per lane (one injected failure each too), then 1,000 rows in one minute, mixed lanes. */
export async function webhookDriver(burstRows = 1000, burstSeconds = 60, serverUrl?: string, isolatedToo = true) {
  const { stack, published, failing } = await benchStack({}, serverUrl);
  // Each delivery's lane, from its message's body (the emulator's record names only the message).
  const deliveredLane = new Map<string, string>();
  const faults = stack.emulator!.emulator.faults;
  const failDelivery = faults.failDelivery!;
  faults.failDelivery = (m) => {
    const lane = (JSON.parse(m.body) as { doorbell?: string }).doorbell;
    if (lane) deliveredLane.set(m.messageId, lane);
    return failDelivery(m);
  };
  try {
    const isolated: Record<string, { messages: number; deliveries: number; ms: number }> = {};
    const laneOf = (body: unknown) => (body as { doorbell?: string }).doorbell;
    const LANE: Record<Kind, string> = { course: "immediate", post: "queued", comment: "database" };
    // Counted by the lane its messages name: the batched lane's change overlaps the others.
    const once = async (label: string, kind: Kind, fail?: string) => {
      const lane = LANE[kind];
      const before = { published: published.length, deliveries: stack.emulator!.emulator.deliveries.length };
      if (fail) failing.next.add(fail);
      const change = await changeRow(stack, kind, 0);
      const [ms] = [...(await searchable(stack, [change], 400_000)).values()];
      await quiet(stack);
      const attempts = stack.emulator!.emulator.deliveries.slice(before.deliveries);
      isolated[label] = {
        messages: published.slice(before.published).filter((p) => laneOf(p.message.body) === lane).length,
        deliveries: attempts.filter((d) => deliveredLane.get(d.messageId) === lane).length,
        ms: ms ?? Number.NaN,
      };
    };
    // The batched lane waits for its window's end (up to four minutes): its change goes first, the
    // others meanwhile each in their own lane.
    if (isolatedToo) {
      const comment = once("comment (p5), its delivery failing once", "comment", "database");
      await sleep(500);
      await once("course (p2)", "course");
      await once("post (p4)", "post");
      await once("course (p2), its delivery failing once", "course", "immediate");
      await once("post (p4), its delivery failing once", "post", "queued");
      await comment;
    }

    // The burst: rows evenly over `burstSeconds`, 40% courses, 40% posts, 20% comments, each its own call.
    const before = { published: published.length, deliveries: stack.emulator!.emulator.deliveries.length };
    const kinds: Kind[] = Array.from({ length: burstRows }, (_, n) => (n % 5 < 2 ? "course" : n % 5 < 4 ? "post" : "comment"));
    const started = performance.now();
    // The poll runs beside the driver, so each row's time is from its own change.
    const changes: { kind: Kind; id: string; at: number }[] = [];
    const polling = searchable(stack, changes, 480_000, burstRows);
    await Promise.all(
      kinds.map(async (kind, n) => {
        await sleep((n * burstSeconds * 1000) / burstRows);
        changes.push({ kind, ...(await changeRow(stack, kind, n)) });
      }),
    );
    const times = await polling;
    await quiet(stack);
    const of = (kind: Kind) => changes.filter((c) => c.kind === kind).flatMap((c) => times.get(c.id) ?? []);
    const lanesOf = published.slice(before.published).map((p) => (p.message.body as { doorbell?: string }).doorbell ?? p.message.endpoint);
    return {
      isolated,
      burst: {
        rows: burstRows,
        seconds: burstSeconds,
        messages: lanesOf.length,
        byLane: Object.fromEntries([...new Set(lanesOf)].map((l) => [l, lanesOf.filter((x) => x === l).length])),
        deliveries: stack.emulator!.emulator.deliveries.length - before.deliveries,
        searchable: times.size,
        allWithinMs: Math.max(...times.values()),
        drivenMs: performance.now() - started,
        courses: stats(of("course")),
        posts: stats(of("post")),
        comments: stats(of("comment")),
      },
      idleDay: {
        enqueueCalled: schedulesFrom({ CHANGES_VIA: "enqueue" }).reduce((n, s) => n + firesPerDay(s.cron), 0),
        triggersOnly: schedulesFrom({}).reduce((n, s) => n + firesPerDay(s.cron), 0),
      },
    };
  } finally {
    await stack.close();
  }
}

/**
 * A day of `changes` isolated course changes (lanes 1–2) spread evenly, on a shifted clock: the functions'
 * clock (the ledger's day, the fallback's windows) steps 86,400 / changes seconds between changes, while
 * runs, leases and the embedding API keep real time. The lanes' fallback calls to the drain are run when
 * their time comes on the shifted clock. Schedules: their crons' fires a day (not run).
 */
export async function webhookDay(changes = 1000, serverUrl?: string) {
  const { stack, published } = await benchStack({ LANE_LINGER_MS: "100" }, serverUrl);
  const stepMs = 86_400_000 / changes;
  const dayStart = (Math.floor(Date.now() / 86_400_000) + 1) * 86_400_000;
  let skew = dayStart - Date.now();
  stack.deps.clock = { now: () => Date.now() + skew, sleep };
  const simulated = () => Date.now() + skew;
  const laneMs: number[] = [];
  const fallbackMs: number[] = [];
  let waiting: { id: string; simulatedAt: number }[] = [];
  let dueDrainAt: number | undefined;
  let firstFallback: number | undefined;
  try {
    for (let n = 0; n < changes; n++) {
      // The shifted clock jumps to this change's time; a fallback call due by then runs first.
      skew = dayStart + n * stepMs - Date.now();
      if (dueDrainAt !== undefined && simulated() >= dueDrainAt) {
        for (const m of stack.emulator!.emulator.messages.values())
          if (m.url.endsWith("/drain")) stack.emulator!.emulator.cancel(m.messageId);
        await stack.trigger("drain");
        const times = await searchable(
          stack,
          waiting.map((w) => ({ id: w.id, at: performance.now() })),
          60_000,
        );
        for (const w of waiting) if (times.has(w.id)) fallbackMs.push(dueDrainAt - w.simulatedAt + times.get(w.id)!);
        waiting = [];
        dueDrainAt = undefined;
        skew = dayStart + n * stepMs - Date.now();
      }
      const before = published.length;
      const change = await changeRow(stack, "course", n);
      const rang = published.slice(before).map((p) => p.message);
      if (rang.some((m) => m.endpoint === "drain") || (rang.length === 0 && dueDrainAt !== undefined)) {
        const call = rang.find((m) => m.endpoint === "drain");
        if (call) dueDrainAt = call.deliverAt;
        firstFallback ??= n;
        waiting.push({ id: change.id, simulatedAt: simulated() });
        continue;
      }
      const [ms] = [...(await searchable(stack, [change], 60_000)).values()];
      laneMs.push(ms ?? Number.NaN);
      await quiet(stack);
    }
    if (dueDrainAt !== undefined) {
      await stack.trigger("drain");
      const times = await searchable(
        stack,
        waiting.map((w) => ({ id: w.id, at: performance.now() })),
        60_000,
      );
      for (const w of waiting) if (times.has(w.id)) fallbackMs.push(dueDrainAt - w.simulatedAt + times.get(w.id)!);
    }
    await freeLanes(stack.connection.db, [FALLBACK_LANE]);
    const schedules = schedulesFrom({ CHANGES_VIA: "enqueue" }).reduce((n, s) => n + firesPerDay(s.cron), 0);
    return {
      changes,
      published: published.length,
      drainCalls: published.filter((p) => p.message.endpoint === "drain").length,
      schedules,
      total: published.length + schedules,
      firstOnDrain: firstFallback ?? null,
      lanes: stats(laneMs),
      under10s: laneMs.filter((ms) => ms < 10_000).length,
      fallback: fallbackMs.length ? stats(fallbackMs) : null,
    };
  } finally {
    await stack.close();
  }
}
