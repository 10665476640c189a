// Concurrency on a real PostgreSQL (ARCHITECTURE.md, "Concurrency"): writers of the same items take
// per-item locks in one global order, and what still meets another session's locks is retried.
import { sql } from "drizzle-orm";
import { postgresCode } from "../lib/errors.js";
import { fnv1a } from "../lib/fnv1a.js";
import { type Item, itemKey } from "../lib/item.js";
import type { Database } from "./database.js";

/** Advisory locks of the pipeline: (namespace, bucket). Apps using one-key advisory locks never collide. */
const LOCK_NAMESPACE = 0x71e5;
/** Items hash into this many locks: a 1,000-item batch takes at most 1,024, well within the lock table. */
const LOCK_BUCKETS = 1024;

/** The lock an item's writers take: items share a bucket's lock, so an unrelated writer may wait on it. */
export const lockBucket = (item: Item): number => fnv1a(itemKey(item)) % LOCK_BUCKETS;

/**
 * The items in lock-bucket order, `size` a group: a write transaction per group then holds about `size`
 * of the locks, each for a short while, where 500 items in queue order hold about 400 of the 1,024 for a
 * whole 500-row write (BENCHMARKS.md §12: a live change waits for it). Stable: ties keep their order.
 */
export function bucketGroups<T extends Item>(items: T[], size: number): T[][] {
  const ordered = items.map((item) => ({ item, bucket: lockBucket(item) })).sort((a, b) => a.bucket - b.bucket);
  const groups: T[][] = [];
  for (let start = 0; start < ordered.length; start += size) groups.push(ordered.slice(start, start + size).map((entry) => entry.item));
  return groups;
}

/**
 * Takes the items' transaction-level locks, in ascending order so that two writers of overlapping
 * items never wait on each other in a cycle. Held until the transaction ends. Call first in it.
 */
export async function lockItems(tx: Database, items: Item[]): Promise<void> {
  const buckets = [...new Set(items.map(lockBucket))].sort((a, b) => a - b);
  if (buckets.length === 0) return;
  // A VALUES list is scanned in the order written, so the locks are taken in that order.
  const values = sql.join(
    buckets.map((b) => sql`(${b}::int)`),
    sql`, `,
  );
  await tx.execute(sql`SELECT count(pg_advisory_xact_lock(${LOCK_NAMESPACE}::int, v.bucket)) FROM (VALUES ${values}) AS v(bucket)`);
}

/** deadlock_detected, serialization_failure, lock_not_available: the work is sound, its timing lost. */
const RETRYABLE_CODES = new Set(["40P01", "40001", "55P03"]);

/** Runs `work` (a transaction, or one statement) again, after a short pause, when it lost a lock race. */
export async function retryConflicts<T>(work: () => Promise<T>, attempts = 12): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !RETRYABLE_CODES.has(postgresCode(error) ?? "")) throw error;
      // Let the transaction that held the lock finish: 20 ms, 40 ms, … at most a second (about 8 s in all).
      await new Promise((resolve) => setTimeout(resolve, Math.min(20 * 2 ** (attempt - 1), 1000)));
    }
  }
}

/**
 * How long the pipeline's writes of queue rows wait for a lock: well under Postgres's
 * deadlock_timeout (1 s by default). Those rows are also written by the application's transactions,
 * through the triggers, in the application's order; in a cycle with one of them, the pipeline's
 * statement gives way (and is retried), so the application's write never fails with a deadlock.
 */
const LOCK_TIMEOUT = "200ms";

/** Writes queue rows in a transaction that yields to the application's (see LOCK_TIMEOUT), retried. */
export function yieldingWrite<T>(db: Database, work: (tx: Database) => Promise<T>): Promise<T> {
  return retryConflicts(() =>
    db.transaction(async (tx) => {
      await tx.execute(sql.raw(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`));
      return work(tx as unknown as Database);
    }),
  );
}
