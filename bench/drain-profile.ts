// Where a drain's time goes, measured from outside the pipeline: every node-postgres query is timed
// and sized as it leaves (round trips, bytes of statement text and parameters, or of a COPY's data) and put in a stage by
// its SQL; the embedder is timed around its calls (its "round trips" are API calls, its bytes 0). What
// is left of the wall time is the process's own work (formatting, chunking, hashing). Real PostgreSQL
// only (node-postgres).
import { Writable } from "node:stream";
import pg from "pg";
import type { Embedder } from "../functions/embedders/embedder";

export const STAGES = ["claim", "load", "stored hashes", "embed", "write transaction", "settle", "ready count"] as const;
export type Stage = (typeof STAGES)[number] | "index build" | "other query";
type Tally = { ms: number; roundTrips: number; bytesSent: number };

export type DrainProfile = {
  stages: Map<Stage, Tally>;
  /** Statements inside the write transaction, by their kind. */
  transaction: Map<string, Tally>;
  wallMs: number;
};

/** Which stage a statement outside a transaction belongs to. */
function stageOf(text: string): Stage {
  if (/SET status = 'processing'/.test(text)) return "claim";
  if (/^select .* from "embeddings"/is.test(text)) return "stored hashes";
  if (/^select count\(\*\)::int AS n FROM embedding_queue/i.test(text.trim())) return "ready count";
  if (/embedding_queue/.test(text)) return "settle";
  if (/^select /i.test(text)) return "load";
  return "other query";
}

/** The kind of a statement inside the write transaction. */
function kindOf(text: string): string {
  const t = text.trim();
  if (/^(begin|commit|rollback)/i.test(t)) return t.split(/\s/)[0]!.toLowerCase();
  if (/pg_advisory_xact_lock/.test(t)) return "item locks";
  if (/xmin::text/.test(t)) return "pending versions";
  if (/^insert into "embeddings"/i.test(t)) return "insert embeddings";
  if (/^copy embeddings/i.test(t)) return "COPY embeddings (a first load's writer)";
  if (/maintenance_work_mem/.test(t)) return "index build settings (read before the build)";
  if (/^delete from "embeddings"/i.test(t)) return "delete stale chunks";
  if (/^update embedding_queue/i.test(t)) return "resolve settled";
  if (/^select /i.test(t)) return "re-read rows";
  return t.slice(0, 40);
}

const bytesOf = (text: string, values: unknown[] | undefined) =>
  Buffer.byteLength(text) +
  (values ?? []).reduce<number>((sum, v) => sum + (v == null ? 0 : Buffer.isBuffer(v) ? v.length : Buffer.byteLength(String(v))), 0);

/**
 * Starts recording; `stop()` ends it and returns the profile. Wrap the drain's embedder with
 * `timedEmbedder` so that the embedding calls are counted too.
 */
export function profileDrain() {
  const profile: DrainProfile = { stages: new Map(), transaction: new Map(), wallMs: 0 };
  const add = (map: Map<string, Tally>, key: string, ms: number, bytes: number) => {
    const tally = map.get(key) ?? { ms: 0, roundTrips: 0, bytesSent: 0 };
    tally.ms += ms;
    tally.roundTrips += 1;
    tally.bytesSent += bytes;
    map.set(key, tally);
  };
  // Each client's open transaction: when it began, and whether it is a write or an index build.
  const transactions = new WeakMap<object, { began: number; stage: Stage }>();
  const original = pg.Client.prototype.query;
  const started = performance.now();
  let stopped = false;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const [config, values] = args;
    const text = typeof config === "string" ? config : (config as { text?: string } | undefined)?.text;
    if (typeof text !== "string") return (original as (...a: unknown[]) => unknown).apply(this, args);
    const params = (Array.isArray(values) ? values : (config as { values?: unknown[] })?.values) as unknown[] | undefined;
    const t0 = performance.now();
    let bytes = bytesOf(text, params);
    const kind = /^\s*begin/i.test(text) ? "begin" : /^\s*(commit|rollback)/i.test(text) ? "commit" : undefined;
    if (kind === "begin") transactions.set(this, { began: t0, stage: "write transaction" });
    const transaction = transactions.get(this);
    if (transaction && /^\s*CREATE INDEX/i.test(text)) transaction.stage = "index build";
    const done = () => {
      const ms = performance.now() - t0;
      if (!transaction) return add(profile.stages as Map<string, Tally>, stageOf(text), ms, bytes);
      if (transaction.stage === "write transaction") add(profile.transaction, kindOf(text), ms, bytes);
      if (kind === "commit") {
        transactions.delete(this);
        const stage = profile.stages.get(transaction.stage) ?? { ms: 0, roundTrips: 0, bytesSent: 0 };
        stage.ms += performance.now() - transaction.began;
        profile.stages.set(transaction.stage, stage);
      }
    };
    // The pool passes a callback; Drizzle's transactions await the promise.
    const callback = args.findIndex((a) => typeof a === "function");
    if (callback >= 0) {
      const given = args[callback] as (...a: unknown[]) => void;
      args[callback] = (...a: unknown[]) => {
        done();
        given(...a);
      };
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    }
    const result = (original as (...a: unknown[]) => unknown).apply(this, args);
    if (result instanceof Promise) void result.then(done, done);
    // COPY … FROM STDIN (pg-copy-streams): a stream, done when the server has taken it all; its bytes are what is written to it.
    else if (result instanceof Writable) {
      const write = result.write.bind(result) as (chunk: Buffer, ...rest: unknown[]) => boolean;
      result.write = ((chunk: Buffer, ...rest: unknown[]) => {
        bytes += chunk.length;
        return write(chunk, ...rest);
      }) as typeof result.write;
      result.once("finish", done).once("error", done);
    }
    return result;
  } as typeof original;
  return {
    profile,
    /** The embedder, timed: its calls count in the "embed" stage. */
    timedEmbedder(embedder: Embedder): Embedder {
      return {
        ...embedder,
        embed: async (texts) => {
          const t0 = performance.now();
          try {
            return await embedder.embed(texts);
          } finally {
            if (!stopped) add(profile.stages as Map<string, Tally>, "embed", performance.now() - t0, 0);
          }
        },
      };
    },
    stop(): DrainProfile {
      stopped = true;
      pg.Client.prototype.query = original;
      profile.wallMs = performance.now() - started;
      // Round trips and bytes of the transaction are its statements'.
      const tx = profile.stages.get("write transaction");
      if (tx) {
        tx.roundTrips = [...profile.transaction.values()].reduce((s, t) => s + t.roundTrips, 0);
        tx.bytesSent = [...profile.transaction.values()].reduce((s, t) => s + t.bytesSent, 0);
      }
      return profile;
    },
  };
}

/** The profile as table rows, per 1,000 items. */
export function profileRows(profile: DrainProfile, items: number) {
  const per1000 = (x: number) => (x * 1000) / items;
  const counted = STAGES.reduce((s, stage) => s + (profile.stages.get(stage)?.ms ?? 0), 0);
  const row = (name: string, t: Tally | undefined) => ({
    stage: name,
    "ms / 1k items": Math.round(per1000(t?.ms ?? 0)),
    share: `${Math.round(((t?.ms ?? 0) / profile.wallMs) * 100)}%`,
    "round trips / 1k": Math.round(per1000(t?.roundTrips ?? 0) * 10) / 10,
    "MB sent / 1k": Math.round(per1000(t?.bytesSent ?? 0) / 1e4) / 100,
  });
  return [
    ...STAGES.map((s) => row(s, profile.stages.get(s))),
    ...[...profile.transaction].map(([kind, t]) => row(`  in it: ${kind}`, t)),
    row("  in it: the process's own work (statements built, vectors formatted)", {
      ms: (profile.stages.get("write transaction")?.ms ?? 0) - [...profile.transaction.values()].reduce((s, t) => s + t.ms, 0),
      roundTrips: 0,
      bytesSent: 0,
    }),
    row("the rest: the process's own work outside a transaction (format, chunk, hash)", {
      ms: profile.wallMs - counted,
      roundTrips: 0,
      bytesSent: 0,
    }),
    row("wall", { ms: profile.wallMs, roundTrips: 0, bytesSent: 0 }),
  ];
}
