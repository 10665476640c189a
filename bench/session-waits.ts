// What the benchmark database's sessions wait on while something runs (PostgreSQL only: PGlite has one
// session): every `everyMs`, each active session's wait event, and for those waiting on a lock, what the
// session holding it is running.
import type { BenchDatabase } from "./bench-database";

export type SessionWaits = {
  /** Samples taken. */
  samples: number;
  /** "waiting statement ⟵ holder's kind: holder's statement", for lock waits. */
  blockers: Set<string>;
  /** Sessions seen per "wait event type: wait event" ("running" when on the CPU), summed over the samples. */
  events: Map<string, number>;
  /** At each sample (ms since the epoch), what the sessions named `watched` (application_name) were doing: "state: statement". */
  timeline: { at: number; doing: string[] }[];
};

/** Samples until `stop`, which answers what was seen. */
export function watchSessionWaits(db: BenchDatabase, everyMs = 25, watched?: string) {
  const seen: SessionWaits = { samples: 0, blockers: new Set(), events: new Map(), timeline: [] };
  let watching = Boolean(db.url);
  const loop = (async () => {
    while (watching) {
      const at = Date.now();
      const [blockers, events, doing] = await Promise.all([
        db.query<{ waiter: string; blocker: string }>(
          `SELECT DISTINCT left(w.query, 40) AS waiter, b.backend_type || ': ' || left(b.query, 40) AS blocker
            FROM pg_stat_activity w, unnest(pg_blocking_pids(w.pid)) AS bp JOIN pg_stat_activity b ON b.pid = bp
            WHERE w.datname = current_database() AND w.wait_event_type = 'Lock'`,
        ),
        db.query<{ event: string; n: number }>(
          `SELECT coalesce(wait_event_type || ': ' || wait_event, 'running') AS event, count(*)::int AS n
            FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
            GROUP BY 1`,
        ),
        watched
          ? db.query<{ doing: string }>(
              `SELECT state || ': ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS doing FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = $1 AND state <> 'idle'`,
              [watched],
            )
          : [],
      ]);
      if (watched) seen.timeline.push({ at, doing: doing.map((r) => r.doing) });
      seen.samples++;
      for (const r of blockers) seen.blockers.add(`${r.waiter} ⟵ ${r.blocker}`);
      for (const r of events) seen.events.set(r.event, (seen.events.get(r.event) ?? 0) + r.n);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop(): Promise<SessionWaits> {
      watching = false;
      await loop;
      return seen;
    },
  };
}
