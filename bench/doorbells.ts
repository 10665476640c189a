// Doorbell routing on the local stack as the Free plan meters it (triggers forwarded to enqueue, the
// strict emulator, a 50 ms embedding API): QStash messages for a burst, and change → searchable times.

import { randomBytes } from "node:crypto";
import { inArray } from "drizzle-orm";
import pg from "pg";
import { communityPost, course, embeddings } from "../schema";
import { type Connection, openPglite, postgresConnection } from "../scripts/lib/database";
import { firesPerDay, schedulesFrom } from "../scripts/lib/schedules";
import { startFakeStack } from "../testing/stack";
import { percentile } from "./corpus";

/** PGlite, or with `serverUrl` a new database on that PostgreSQL server, dropped on close. */
export async function benchDatabase(serverUrl?: string): Promise<Connection> {
  if (!serverUrl) {
    const connection = await openPglite();
    await connection.migrate();
    return connection;
  }
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    await client.query(statement).finally(() => client.end());
  };
  const name = `qe_bench_${randomBytes(6).toString("hex")}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const connection = postgresConnection(url.toString(), () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  await connection.migrate({ sampleTables: true });
  return connection;
}

export async function doorbells(serverUrl?: string, latencyMs = 50) {
  const connection = await benchDatabase(serverUrl);
  const stack = await startFakeStack({ connection, forwardNotifications: true });
  stack.api.latencyMs = latencyMs;
  const { db } = stack.connection;
  const emulator = stack.emulator!.emulator;
  /** Each id's time from `started` to its first stored vector. */
  const searchableTimes = async (ids: string[], started: number) => {
    const times = new Map<string, number>();
    while (times.size < ids.length) {
      const waiting = ids.filter((id) => !times.has(id));
      const found = await db.selectDistinct({ id: embeddings.contentId }).from(embeddings).where(inArray(embeddings.contentId, waiting));
      for (const { id } of found) times.set(id, performance.now() - started);
      await new Promise((r) => setTimeout(r, 5));
    }
    return [...times.values()];
  };
  /** Waits until QStash has nothing left to deliver, then answers the messages billed since `before`. */
  const billedSince = async (before: number) => {
    while (emulator.messages.size > 0) await new Promise((r) => setTimeout(r, 50));
    return emulator.messagesOn() - before;
  };
  const stats = (values: number[]) => ({ p50: percentile(values, 50), p95: percentile(values, 95), max: Math.max(...values) });
  try {
    // One change at a time, at random points of a window.
    const single: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const [row] = await db
        .insert(course)
        .values({ title: `Single course ${i}` })
        .returning();
      single.push(...(await searchableTimes([row!.id], started)));
      await new Promise((r) => setTimeout(r, Math.random() * 500));
    }
    // 100 courses in one INSERT.
    const hundred: number[] = [];
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      const rows = await db
        .insert(course)
        .values(Array.from({ length: 100 }, (_, i) => ({ title: `Bulk course ${round}-${i}` })))
        .returning();
      hundred.push(
        ...(await searchableTimes(
          rows.map((r) => r.id),
          started,
        )),
      );
    }
    // A burst of 1,000 changes: 600 courses (immediate lane) and 400 posts (queued lane), inserted at once.
    await billedSince(0);
    const before = emulator.messagesOn();
    const started = performance.now();
    const [courses, posts] = await Promise.all([
      db
        .insert(course)
        .values(Array.from({ length: 600 }, (_, i) => ({ title: `Burst course ${i}` })))
        .returning(),
      db
        .insert(communityPost)
        .values(Array.from({ length: 400 }, (_, i) => ({ title: `Burst post ${i}` })))
        .returning(),
    ]);
    const burst = await searchableTimes(
      [...courses, ...posts].map((r) => r.id),
      started,
    );
    const burstMessages = await billedSince(before);
    // An idle day: only the schedules fire (arithmetic from their crons, not a day's run).
    const idle = (DRAIN_CRON?: string) => schedulesFrom({ DRAIN_CRON }).reduce((n, s) => n + firesPerDay(s.cron), 0);
    return {
      single: stats(single),
      hundred: stats(hundred),
      burst: { messages: burstMessages, allSearchableMs: Math.max(...burst), p95: percentile(burst, 95) },
      idleDay: { triggersOnly: idle(), withDoorbells: idle("*/10 * * * *") },
    };
  } finally {
    await stack.close();
  }
}
