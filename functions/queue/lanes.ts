// Priority decides the lane (DESIGN.md section 1, "Routing").

export type Lane = "immediate" | "queued" | "database";

/** The QStash queue of the 3–4 lane, and how many deliveries it runs at once. */
export const QUEUED_LANE = { queueName: "embeddings", parallelism: 5 };

export function laneFor(priority: number): Lane {
  if (priority <= 2) return "immediate";
  if (priority <= 4) return "queued";
  return "database";
}

/**
 * How long a lane waits so that a burst of edits to one row becomes one delivery: every change in the
 * same window shares a deduplication id and is delivered once, at the window's end, reading the row
 * as it is then. A later change falls in a new window, so no edit is ever dropped.
 */
export const COALESCE_WINDOW_MS: Record<Exclude<Lane, "database">, number> = { immediate: 500, queued: 2000 };

export function coalescingWindow(lane: Exclude<Lane, "database">, now: number) {
  const width = COALESCE_WINDOW_MS[lane];
  const window = Math.floor(now / width);
  return { window, deliverAt: (window + 1) * width };
}
