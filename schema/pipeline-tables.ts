// The pipeline's own tables. See ARCHITECTURE.md §2, "Tables".
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  customType,
  date,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  vector,
} from "drizzle-orm/pg-core";

/** The vector column's size. Changing it needs a migration: see README "Changing model or dimensions". */
export const VECTOR_DIMENSIONS = 1536;

/** The nearest-neighbour index; an initial load drops and rebuilds it (scripts/lib/initial-load.ts). */
export const HNSW_INDEX = "embeddings_embedding_hnsw";

/** The full-text index over chunk text (hybrid and keyword search, functions/search/keyword.ts). */
export const TEXT_SEARCH_INDEX = "embeddings_text_search_gin";

/** Equality filters on any key (search `filters`: `filters @> {"key": value}`). */
export const FILTERS_INDEX = "embeddings_filters_gin";

/** Date-range filters. */
export const FILTER_DATE_INDEX = "embeddings_filter_date";

/** A stored filter value: the column's value as JSON (uuids and text as strings). */
export type FilterValue = string | number | boolean;

/** A text search configuration by name ('english', 'simple', …); its binary form is an OID. */
const regconfig = customType<{ data: string }>({ dataType: () => "regconfig" });
/** A pgvector vector without a fixed size, read as numbers from its `[…]` text. */
const anyVector = customType<{ data: number[]; driverData: string }>({
  dataType: () => "vector",
  fromDriver: (value) => JSON.parse(value) as number[],
});
const tsvector = customType<{ data: string }>({ dataType: () => "tsvector" });

export const embeddings = pgTable(
  "embeddings",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    contentType: text("content_type").notNull(),
    contentId: text("content_id").notNull(),
    chunkIndex: integer("chunk_index").notNull(),
    chunkText: text("chunk_text").notNull(),
    contentHash: text("content_hash").notNull(),
    model: text("model").notNull(),
    dimensions: integer("dimensions").notNull(),
    embedding: vector("embedding", { dimensions: VECTOR_DIMENSIONS }).notNull(),
    /** The text search configuration of the chunk's content type (registry `search.textConfig`), written with it. */
    textConfig: regconfig("text_config").notNull().default(sql`'english'::regconfig`),
    /**
     * Computed by Postgres from the two columns above in the same write as the vector (no writer
     * sends it, so it never disagrees with the text). to_tsvector(regconfig, text) is immutable.
     */
    textSearch: tsvector("text_search").notNull().generatedAlwaysAs(sql`to_tsvector(text_config, chunk_text)`),
    /**
     * The row's filter fields (registry `search.filters`) but its date, by name: `{"courseId": "…"}`,
     * written with the vector. One GIN index (jsonb_path_ops) serves equality on every key of every type.
     */
    filters: jsonb("filters").$type<Record<string, FilterValue>>().notNull().default({}),
    /** The row's date filter field (registry `search.filters`, a date or timestamp column), for ranges. */
    filterDate: timestamp("filter_date", { withTimezone: true }),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default({}),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("embeddings_chunk_key").on(t.contentType, t.contentId, t.chunkIndex),
    index(HNSW_INDEX).using("hnsw", t.embedding.op("vector_cosine_ops")),
    index(TEXT_SEARCH_INDEX).using("gin", t.textSearch),
    index(FILTERS_INDEX).using("gin", sql`${t.filters} jsonb_path_ops`),
    index(FILTER_DATE_INDEX).on(t.filterDate),
  ],
);

/**
 * The chunks of rows that exist but are hidden (filtered out, or under a hidden parent), moved out of
 * `embeddings` so search never sees them, and moved back without an embedding call when the row is
 * shown again with the same text (the content hash decides). Dropped when the row is gone or its text
 * changes (functions/core/hidden.ts).
 */
export const hiddenEmbeddings = pgTable(
  "hidden_embeddings",
  {
    contentType: text("content_type").notNull(),
    contentId: text("content_id").notNull(),
    chunkIndex: integer("chunk_index").notNull(),
    contentHash: text("content_hash").notNull(),
    model: text("model").notNull(),
    /** Of any size: a model or dimension change needs no migration here (its hashes never match). */
    embedding: anyVector("embedding").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.contentType, t.contentId, t.chunkIndex] })],
);

export const queueStatuses = ["pending", "processing", "done", "failed"] as const;
export type QueueStatus = (typeof queueStatuses)[number];
export const queueSources = ["trigger", "webhook", "fallback", "retry", "backfill"] as const;
export type QueueSource = (typeof queueSources)[number];
export type QueueOp = "upsert" | "delete";

/** A queue row's priority when nothing says otherwise (a type the registry no longer knows): the batched lane's. */
export const DEFAULT_PRIORITY = 5;

export const embeddingQueue = pgTable(
  "embedding_queue",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    contentType: text("content_type").notNull(),
    contentId: text("content_id").notNull(),
    op: text("op").$type<QueueOp>().notNull().default("upsert"),
    priority: integer("priority").notNull().default(DEFAULT_PRIORITY),
    status: text("status").$type<QueueStatus>().notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    retryRounds: integer("retry_rounds").notNull().default(0),
    lastError: text("last_error"),
    runAfter: timestamp("run_after", { withTimezone: true }).notNull().defaultNow(),
    lockedUntil: timestamp("locked_until", { withTimezone: true }),
    source: text("source").$type<QueueSource>().notNull().default("trigger"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // Coalescing: a burst of edits to one row is one pending item (and one failed record at most).
    uniqueIndex("embedding_queue_one_pending").on(t.contentType, t.contentId).where(sql`status = 'pending'`),
    uniqueIndex("embedding_queue_one_failed").on(t.contentType, t.contentId).where(sql`status = 'failed'`),
    index("embedding_queue_claim").on(t.status, t.priority, t.runAfter),
    // The status page and the alerts (functions/status/): the oldest unfinished change per priority, and
    // the rows settled in a window, each read through its own small index at any queue size.
    index("embedding_queue_unfinished_age").on(t.priority, t.createdAt).where(sql`status IN ('pending', 'processing')`),
    index("embedding_queue_settled_at").on(t.updatedAt).where(sql`status IN ('done', 'failed')`),
    index("embedding_queue_errors").on(t.updatedAt).where(sql`last_error IS NOT NULL`),
  ],
);

export const searchLog = pgTable("search_log", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  query: text("query").notNull(),
  contentTypes: text("content_types").array(),
  resultCount: integer("result_count").notNull(),
  milliseconds: integer("milliseconds").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

/** One row per run of a scheduled function, for the status endpoints. */
export const jobRuns = pgTable(
  "job_runs",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    job: text("job").notNull(),
    ok: boolean("ok").notNull(),
    summary: jsonb("summary").$type<Record<string, unknown>>().notNull().default({}),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull(),
    finishedAt: timestamp("finished_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("job_runs_job_finished").on(t.job, t.finishedAt)],
);

/**
 * Signed scheduled calls that ran, by their signature's id (the JWT's jti), kept until the signature
 * expires: a replay of the same signed request within its lifetime runs nothing twice.
 */
export const signedCalls = pgTable("signed_calls", {
  signatureId: text("signature_id").primaryKey(),
  endpoint: text("endpoint").notNull(),
  expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

export const laneHolders = ["ringing", "serving"] as const;
export type LaneHolder = (typeof laneHolders)[number];

/**
 * Per lane, whether something is already on its way (ARCHITECTURE.md §1, "Routing (doorbells)"): a
 * doorbell rung and not yet answered ("ringing") or a run serving the lane ("serving"), until
 * `held_until`; after it, the lane is idle and the next change rings. The lease frees a lane whose
 * doorbell was lost or whose run died.
 */
export const laneStates = pgTable("lane_state", {
  lane: text("lane").primaryKey(),
  holder: text("holder").$type<LaneHolder>().notNull().default("ringing"),
  heldUntil: timestamp("held_until", { withTimezone: true }).notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * The QStash spend ledger, one row per UTC day (README "QStash plans"): every message the pipeline
 * asked QStash to publish (deduplicated or not) and every delivery it received (`retried`: those that
 * were QStash's retries), so the lanes stop publishing before the plan's daily limit.
 */
export const qstashSpend = pgTable("qstash_spend", {
  day: date("day", { mode: "string" }).primaryKey(),
  publishRequests: integer("publish_requests").notNull().default(0),
  deliveries: integer("deliveries").notNull().default(0),
  retried: integer("retried").notNull().default(0),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

export const vectorStorages = ["vector", "halfvec"] as const;
export type VectorStorage = (typeof vectorStorages)[number];
export const setRoles = ["serving", "shadow"] as const;
export type SetRole = (typeof setRoles)[number];

/** The table of the shadow set (functions/sets/): a model or storage embedded alongside the serving one. */
export const SHADOW_TABLE = "embeddings_shadow";

/**
 * The embedding sets, once a shadow was ever made (`npm run model`, ARCHITECTURE.md §13): `serving` is
 * what `embeddings` holds and search answers from, `shadow` what `embeddings_shadow` holds (a model
 * being filled, or, with `retired_at`, the one a switch left, kept for rollback until maintenance
 * drops it). No rows: `embeddings` serves the configured model, as before any switch. A switch swaps
 * the two rows' contents in the transaction that swaps the tables, so a search that reads its row
 * FOR SHARE always embeds its query with the model of the table it reads.
 */
export const embeddingSets = pgTable("embedding_sets", {
  role: text("role").$type<SetRole>().primaryKey(),
  model: text("model").notNull(),
  dimensions: integer("dimensions").notNull(),
  storage: text("storage").$type<VectorStorage>().notNull().default("vector"),
  /** When this set stopped serving (a shadow kept for rollback); null for a set never switched to. */
  retiredAt: timestamp("retired_at", { withTimezone: true }),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

export const spendPaths = ["live", "batch"] as const;
/** How an embedding was bought: a live request, or (later) OpenAI's Batch API at its own price. */
export type SpendPath = (typeof spendPaths)[number];

/**
 * The cost ledger (functions/cost/ledger.ts), one row per UTC day, model, lane and path: what the
 * embedding API was asked (`requests`, `inputs`) and answered it used (`tokens`, its usage.prompt_tokens).
 * Money is tokens × the model's price (EMBEDDING_PRICES), at read time. Maintenance prunes old days.
 */
export const embeddingSpend = pgTable(
  "embedding_spend",
  {
    day: date("day", { mode: "string" }).notNull(),
    model: text("model").notNull(),
    lane: text("lane").notNull(),
    path: text("path").$type<SpendPath>().notNull().default("live"),
    tokens: bigint("tokens", { mode: "number" }).notNull().default(0),
    requests: integer("requests").notNull().default(0),
    inputs: integer("inputs").notNull().default(0),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.day, t.model, t.lane, t.path] })],
);

/**
 * The budget's account, one row per period ("2026-12-03" for a daily cap, "2026-12" for a monthly one):
 * tokens and dollars spent, and those reserved by requests in flight (functions/cost/budget.ts). A request
 * reserves its estimate before it is sent and settles its usage after, so concurrent runs never pass the cap.
 */
export const embeddingBudget = pgTable("embedding_budget", {
  period: text("period").primaryKey(),
  tokens: bigint("tokens", { mode: "number" }).notNull().default(0),
  usd: doublePrecision("usd").notNull().default(0),
  reservedTokens: bigint("reserved_tokens", { mode: "number" }).notNull().default(0),
  reservedUsd: doublePrecision("reserved_usd").notNull().default(0),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

export const pauseKinds = ["lane", "type"] as const;
export type PauseKind = (typeof pauseKinds)[number];

/**
 * Lanes and content types an operator paused (functions/queue/pauses.ts): their rows wait, unclaimed and
 * unrung, until resumed. A row here is a pause; resuming deletes it.
 */
export const pipelinePauses = pgTable(
  "pipeline_pauses",
  {
    kind: text("kind").$type<PauseKind>().notNull(),
    name: text("name").notNull(),
    reason: text("reason"),
    pausedAt: timestamp("paused_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.name] })],
);

/**
 * Exact queue counts at any size (functions/status/queue-counts.ts): per status and priority, rows of
 * deltas that statement triggers on embedding_queue append in the writing transaction (drizzle/ custom
 * migration "queue_counts"); the sum is the count. Appends never contend; readers fold them together.
 */
export const queueCounts = pgTable("queue_counts", {
  status: text("status").notNull(),
  priority: integer("priority").notNull(),
  n: bigint("n", { mode: "number" }).notNull(),
});

/**
 * The status page's trends (functions/status/trends.ts), one row per five minutes and lane: items done
 * and failed in it, their change → searchable latency as a histogram (LATENCY_BINS), and the backlog as
 * last sampled in it. Kept ROLLUP_RETENTION_DAYS by maintenance.
 */
export const statusRollup = pgTable(
  "status_rollup",
  {
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    lane: text("lane").notNull(),
    done: integer("done").notNull().default(0),
    failed: integer("failed").notNull().default(0),
    latency: integer("latency").array().notNull().default(sql`'{}'::integer[]`),
    backlog: integer("backlog"),
    rolledAt: timestamp("rolled_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.bucket, t.lane] })],
);

/**
 * Alerts (functions/status/alerts.ts), one row per condition (e.g. "lane-late:immediate"): since when it
 * holds, whether it fired, and whether the webhook has been handed its message (fired or cleared).
 */
export const alertState = pgTable("alert_state", {
  key: text("key").primaryKey(),
  /** When the condition was first seen holding without a break; null while it does not hold. */
  since: timestamp("since", { withTimezone: true }),
  firing: boolean("firing").notNull().default(false),
  /** When it last fired: with `firing`, the deduplication id of its two messages. */
  firedAt: timestamp("fired_at", { withTimezone: true }),
  /** Whether the message of the current state (fired, or cleared) is with QStash. */
  notified: boolean("notified").notNull().default(true),
  detail: text("detail").notNull().default(""),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

export const batchStates = ["preparing", "submitted", "settling", "settled"] as const;
/**
 * Ours, not OpenAI's: "preparing" while its file is written and sent (a run that dies here leaves it to
 * the next poll, which gives its rows back), "submitted" while OpenAI works on it, "settling" once
 * OpenAI is done and its results are being stored, "settled" when every row is stored or given back.
 */
export type BatchState = (typeof batchStates)[number];

/**
 * Batches sent to OpenAI's Batch API (functions/batch/, ARCHITECTURE.md §14 "Batch API"): the provider's
 * ids and last status, the model the vectors are for, and the budget reserved for it until it settles.
 */
export const embeddingBatches = pgTable("embedding_batches", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  state: text("state").$type<BatchState>().notNull().default("preparing"),
  providerBatchId: text("provider_batch_id"),
  inputFileId: text("input_file_id"),
  /** OpenAI's status when last polled (validating … completed, failed, expired, cancelled). */
  providerStatus: text("provider_status"),
  model: text("model").notNull(),
  dimensions: integer("dimensions").notNull(),
  /** Distinct chunk texts sent (one request line each, its custom_id the chunk's hash). */
  inputs: integer("inputs").notNull().default(0),
  /** The budget period its estimate is reserved in, and how much (released or spent when it settles). */
  budgetPeriod: text("budget_period"),
  reservedTokens: bigint("reserved_tokens", { mode: "number" }).notNull().default(0),
  reservedUsd: doublePrecision("reserved_usd").notNull().default(0),
  /** Tokens OpenAI reported for its answered lines, booked on the ledger's batch path. */
  tokens: bigint("tokens", { mode: "number" }),
  lastError: text("last_error"),
  /** Its queue rows' lease: the live drain leaves them alone until then (the 24 h window and a margin). */
  leaseUntil: timestamp("lease_until", { withTimezone: true }).notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  settledAt: timestamp("settled_at", { withTimezone: true }),
});

/**
 * The queue rows a batch holds (claimed, `processing` under the batch's lease): a row leaves this table
 * when its item is stored or given back to the live lanes, so what is left is what the batch still owes.
 */
export const embeddingBatchRows = pgTable(
  "embedding_batch_rows",
  {
    batchId: bigint("batch_id", { mode: "number" })
      .notNull()
      .references(() => embeddingBatches.id, { onDelete: "cascade" }),
    queueId: bigint("queue_id", { mode: "number" }).notNull(),
    contentType: text("content_type").notNull(),
    contentId: text("content_id").notNull(),
    priority: integer("priority").notNull(),
  },
  (t) => [primaryKey({ columns: [t.batchId, t.queueId] })],
);

/** Every table of the pipeline: the change-capture migration keeps them to their owner. */
export const pipelineTables = [
  embeddings,
  hiddenEmbeddings,
  embeddingQueue,
  searchLog,
  jobRuns,
  signedCalls,
  laneStates,
  qstashSpend,
  embeddingSets,
  embeddingSpend,
  embeddingBudget,
  pipelinePauses,
  embeddingBatches,
  embeddingBatchRows,
];
