// The environment, parsed once with Valibot (README "Configuration"). Nothing else reads process.env.
import * as v from "valibot";
import { VECTOR_DIMENSIONS } from "../schema/pipeline-tables.js";

/** pgvector's HNSW index takes `halfvec` of up to 4,000 dimensions (`vector`: 2,000). */
export const MAX_HALFVEC_DIMENSIONS = 4000;

import { MAX_ROW_BYTES } from "./core/format.js";
import { parsePrices } from "./cost/prices.js";
import type { CostSettings } from "./cost/settings.js";
import { isNeonHost } from "./db/connection-error.js";
import { LOCAL_MODEL } from "./embedders/local.js";
import { type ChangesVia, DRAIN_CRONS } from "./endpoints.js";
import { ConfigError } from "./lib/errors.js";
import { shownUrl } from "./lib/shown-url.js";

/**
 * QStash's daily message limit per plan (https://upstash.com/docs/qstash/overall/pricing): what the
 * spend ledger keeps the pipeline under. QSTASH_DAILY_LIMIT gives another.
 */
export const PLAN_DAILY_LIMITS = { free: 1000, payg: Number.POSITIVE_INFINITY, fixed1m: 1_000_000 } as const;
export type PlanName = keyof typeof PLAN_DAILY_LIMITS;

const optionalText = v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)));
// "localhost:3190" parses as a URL of scheme "localhost:": only http(s) ones are what is meant.
const url = (what: string) =>
  v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.url(`must be a URL (${what})`),
      v.regex(/^https?:\/\//i, `must be an http:// or https:// URL (${what})`),
    ),
  );
const integer = (fallback: number, min: number, max: number) =>
  v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d+$/, `must be a whole number between ${min} and ${max}`),
      v.transform(Number),
      v.minValue(min, `must be at least ${min}`),
      v.maxValue(max, `must be at most ${max}`),
    ),
    String(fallback),
  );

const EnvSchema = v.object({
  DATABASE_URL: v.optional(v.pipe(v.string(), v.regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL"))),
  /** Edge functions on a database that is not Neon: a WebSocket-to-Postgres proxy in front of it (README "Any Postgres"). */
  DATABASE_WS_PROXY: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^[^\s/:?#]+(:\d+)?(\/[^\s?#]*)?$/, "must be host[:port][/path] of a WebSocket proxy, without wss:// (Neon's wsProxy)"),
    ),
  ),
  QSTASH_TOKEN: optionalText,
  QSTASH_URL: url("the QStash API, e.g. https://qstash.upstash.io"),
  QSTASH_CURRENT_SIGNING_KEY: optionalText,
  QSTASH_NEXT_SIGNING_KEY: optionalText,
  SITE_URL: url("where the functions are served, e.g. https://my-app.vercel.app"),
  QSTASH_PLAN: v.optional(v.picklist(["free", "payg", "fixed1m"], "must be free, payg or fixed1m"), "free"),
  QSTASH_DAILY_LIMIT: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "must be a whole number of messages a day"), v.transform(Number))),
  CHANGES_VIA: v.optional(v.picklist(["enqueue", "triggers"], "must be enqueue or triggers"), "triggers"),
  DRAIN_CRON: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^(CRON_TZ=\S+\s+)?\S+(\s+\S+){4}$/, "must be a cron of 5 fields (QStash's resolution is a minute)"),
    ),
  ),
  EMBEDDING_QUEUE_STRATEGY: v.optional(v.picklist(["qstash", "database"], "must be qstash or database")),
  OPENAI_API_KEY: optionalText,
  /** `local` serves the lexical embedder on purpose; a deploy without an OpenAI key refuses to start without it. */
  EMBEDDER: v.optional(v.picklist(["openai", "local"], "must be openai or local")),
  OPENAI_BASE_URL: url("an OpenAI-compatible API"),
  EMBEDDING_MODEL: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)), "text-embedding-3-small"),
  EMBEDDING_DIMENSIONS: v.pipe(
    integer(VECTOR_DIMENSIONS, 1, VECTOR_DIMENSIONS),
    v.check(
      (n) => n === VECTOR_DIMENSIONS,
      `must be ${VECTOR_DIMENSIONS}, the size of the vector column (to change both, see README "Changing model or dimensions")`,
    ),
  ),
  /** A model (and size) embedded alongside the serving one, for a switch with no gap (README "Switching models"). */
  EMBEDDING_SHADOW_MODEL: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1))),
  EMBEDDING_SHADOW_DIMENSIONS: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d+$/, `must be a whole number between 1 and ${MAX_HALFVEC_DIMENSIONS}`),
      v.transform(Number),
      v.minValue(1, "must be at least 1"),
      v.maxValue(
        MAX_HALFVEC_DIMENSIONS,
        `must be at most ${MAX_HALFVEC_DIMENSIONS} (pgvector indexes halfvec up to ${MAX_HALFVEC_DIMENSIONS} dimensions)`,
      ),
    ),
  ),
  /** How a new shadow set stores its vectors: float32 `vector` or 16-bit `halfvec` (pgvector 0.7). */
  EMBEDDING_STORAGE: v.optional(v.picklist(["vector", "halfvec"], "must be vector or halfvec"), "vector"),
  /** Days a switched-from set is kept (and written) so a rollback is one statement; maintenance drops it after. */
  EMBEDDING_ROLLBACK_DAYS: integer(7, 0, 365),
  EMBEDDING_ENCODING: v.optional(v.picklist(["float", "base64"], "must be float or base64")),
  EMBEDDING_TPM: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "must be a whole number of tokens per minute"), v.transform(Number))),
  WEBHOOK_SECRET: optionalText,
  ADMIN_TOKEN: optionalText,
  SEARCH_TOKEN: optionalText,
  SEARCH_PUBLIC: v.optional(v.picklist(["true", "false"], "must be true or false")),
  DRAIN_BATCH_SIZE: integer(500, 1, 10_000),
  SEARCH_EXACT_LIMIT: integer(5000, 0, 10_000_000),
  SEARCH_PUBLIC_PER_MINUTE: integer(60, 1, 100_000),
  SEARCH_BUDGET_MS: integer(15_000, 100, 30_000),
  // The local stack only (npm start): ports, and where the embedded database keeps its files.
  PORT: integer(3000, 0, 65_535),
  PGPORT: integer(5432, 0, 65_535),
  PGLITE_DATA_DIR: v.optional(v.pipe(v.string(), v.minLength(1)), ".data/pglite"),
  DRAIN_BUDGET_MS: integer(50_000, 100, 800_000),
  PROCESS_BUDGET_MS: integer(50_000, 100, 800_000),
  EMBEDDING_MAX_ROW_BYTES: integer(MAX_ROW_BYTES, 1, 100_000_000),
  LANE_LINGER_MS: integer(2000, 0, 30_000),
  EMBEDDING_PRICES: v.optional(v.pipe(v.string(), v.trim())),
  EMBEDDING_BUDGET_TOKENS: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "must be a whole number of tokens"), v.transform(Number))),
  EMBEDDING_BUDGET_USD: v.optional(
    v.pipe(v.string(), v.regex(/^\d+(\.\d+)?$/, "must be an amount of US dollars, e.g. 5 or 2.50"), v.transform(Number)),
  ),
  EMBEDDING_BUDGET_PERIOD: v.optional(v.picklist(["day", "month"], "must be day or month"), "day"),
  SPEND_RETENTION_DAYS: integer(400, 1, 10_000),
  // The Batch API path for backfills (functions/batch/, README "Batch API"): off unless set to true.
  EMBEDDING_BATCH_API: v.optional(v.picklist(["true", "false"], "must be true or false"), "false"),
  EMBEDDING_BATCH_MIN_ITEMS: integer(1000, 1, 10_000_000),
  EMBEDDING_BATCH_MAX_INPUTS: integer(10_000, 1, 50_000),
  // Alerts (functions/status/alerts.ts, README "Alerts"): a Slack-compatible webhook, a secret.
  ALERT_WEBHOOK_URL: url("a Slack-compatible incoming webhook"),
  ALERT_CRON: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^(CRON_TZ=\S+\s+)?\S+(\s+\S+){4}$/, "must be a cron of 5 fields (QStash's resolution is a minute)"),
    ),
  ),
  ALERT_AFTER_SECONDS: integer(45, 0, 86_400),
  ALERT_FAILURES: integer(10, 1, 1_000_000),
  ALERT_QSTASH_PERCENT: integer(90, 1, 100),
});

/** Every variable the configuration reads (.env.example lists each, tests/env-example.test.ts). */
export const ENV_VARIABLES = Object.keys(EnvSchema.entries);

export type Config = {
  databaseUrl?: string;
  /** Set: edge functions reach a database that is not Neon through this WebSocket proxy. */
  databaseWsProxy?: string;
  qstash: {
    token?: string;
    url?: string;
    currentSigningKey?: string;
    nextSigningKey?: string;
    plan: PlanName;
    /** Messages a day the plan allows (QSTASH_DAILY_LIMIT, or the plan's): the spend ledger's ceiling. */
    dailyLimit: number;
  };
  /** Where changes come from: `enqueue` (webhooks, the app) or the triggers alone; fits the drain's cron. */
  changesVia: ChangesVia;
  /** DRAIN_CRON, over the drain's fitted cron (DRAIN_CRONS). */
  drainCron?: string;
  siteUrl?: string;
  strategy: "qstash" | "database";
  openai: { apiKey?: string; baseUrl?: string; tokensPerMinute?: number; encoding?: "float" | "base64" };
  provider: "openai" | "local";
  /** False when the local embedder was fallen back on for want of an OpenAI key, rather than chosen. */
  embedderChosen: boolean;
  model: string;
  dimensions: number;
  /** The shadow's model and size (EMBEDDING_SHADOW_MODEL / _DIMENSIONS), when one is being embedded. */
  shadow?: { model: string; dimensions: number };
  /** `storage`: a new shadow set's (EMBEDDING_STORAGE); `rollbackDays`: how long a switched-from set is kept. */
  sets: { storage: "vector" | "halfvec"; rollbackDays: number };
  webhookSecret?: string;
  adminToken?: string;
  searchToken?: string;
  /** Budgets: the time one run may take, below its platform's limit (README "Deploy"). */
  drain: { batchSize: number; budgetMs: number };
  /** `lingerMs`: how long a lane's run waits for more rows once its lane is empty (LANE_LINGER_MS);
   * `maxRowBytes`: a row whose text is longer fails with a record saying so, unembedded. */
  process: { budgetMs: number; lingerMs: number; maxRowBytes: number };
  /**
   * A type filter matching at most `exactLimit` chunks is searched exactly, not through the HNSW index.
   * `public`: anyone may search the public types without a token (SEARCH_PUBLIC=true, on purpose), while
   * the site answers fewer than `publicPerMinute` searches a minute.
   */
  search: { exactLimit: number; public: boolean; budgetMs: number; publicPerMinute: number };
  local: { port: number; pgPort: number; dataDir: string };
  /** The cost ledger and budget (functions/cost/settings.ts). */
  cost: CostSettings["cost"];
  /**
   * Alerts: where to post (absent: none evaluated, no schedule), the check's cron (ALERT_CRON, else
   * alertCron's fit to the plan), how long a lane must be late before it alerts, how many items failing
   * in ten minutes is a spike, and the share of QStash's day that is "nearly spent".
   */
  alerts: { webhookUrl?: string; cron?: string; afterMs: number; failures: number; qstashPercent: number };
  /**
   * OpenAI's Batch API for backfill-priority rows (functions/batch/): on or off (its schedule exists only
   * when on), the backlog at which a batch is worth sending, and the distinct chunks one batch holds.
   */
  batch: { enabled: boolean; minItems: number; maxInputs: number };
};

/**
 * How vectors travel: base64 (a quarter of the JSON) only from OpenAI itself. Servers that ignore the
 * field answer floats (Ollama: BerriAI/litellm issue #42426, openclaw/openclaw #45982), which the
 * embedder takes as they are (openai.ts), but older vLLM refuses base64 with 400 "base64 encoding is
 * not currently supported" (vllm-project/vllm #6174).
 */
export function encodingFor(baseUrl: string | undefined): "float" | "base64" {
  return !baseUrl || new URL(baseUrl).hostname === "api.openai.com" ? "base64" : "float";
}

/** Parses the environment into a Config, or throws a ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // An empty variable means unset, as in most .env tooling.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ""));
  const result = v.safeParse(EnvSchema, present);
  if (!result.success) {
    const problems = result.issues.map((issue) => `${v.getDotPath(issue) ?? "environment"} ${issue.message}`);
    throw new ConfigError(`Invalid configuration: ${problems.join("; ")}`);
  }
  const e = result.output;
  let prices: Record<string, number>;
  try {
    prices = parsePrices(e.EMBEDDING_PRICES);
  } catch (error) {
    throw new ConfigError(`Invalid configuration: EMBEDDING_PRICES ${(error as Error).message}`);
  }
  const provider = e.EMBEDDER ?? (e.OPENAI_API_KEY ? "openai" : "local");
  if (provider === "openai" && !e.OPENAI_API_KEY)
    throw new ConfigError("Invalid configuration: EMBEDDER is openai but OPENAI_API_KEY is not set");
  // Vectors are stored under their model's name: the local embedder's under an OpenAI model's name
  // would never be re-embedded once the key is added.
  if (provider === "local" && present.EMBEDDING_MODEL) {
    throw new ConfigError(
      `Invalid configuration: EMBEDDING_MODEL names ${e.EMBEDDING_MODEL}, but without OPENAI_API_KEY the local embedder (${LOCAL_MODEL}) is used; set OPENAI_API_KEY, or unset EMBEDDING_MODEL`,
    );
  }
  const model = provider === "local" ? LOCAL_MODEL : e.EMBEDDING_MODEL;
  const shadow =
    e.EMBEDDING_SHADOW_MODEL || e.EMBEDDING_SHADOW_DIMENSIONS
      ? { model: e.EMBEDDING_SHADOW_MODEL ?? model, dimensions: e.EMBEDDING_SHADOW_DIMENSIONS ?? e.EMBEDDING_DIMENSIONS }
      : undefined;
  if (provider === "local" && shadow && shadow.model !== LOCAL_MODEL) {
    throw new ConfigError(
      `Invalid configuration: EMBEDDING_SHADOW_MODEL names ${shadow.model}, but without OPENAI_API_KEY only the local embedder (${LOCAL_MODEL}) is at hand`,
    );
  }
  return {
    databaseUrl: e.DATABASE_URL,
    databaseWsProxy: e.DATABASE_WS_PROXY,
    qstash: {
      token: e.QSTASH_TOKEN,
      url: e.QSTASH_URL,
      currentSigningKey: e.QSTASH_CURRENT_SIGNING_KEY,
      nextSigningKey: e.QSTASH_NEXT_SIGNING_KEY,
      plan: e.QSTASH_PLAN,
      dailyLimit: e.QSTASH_DAILY_LIMIT ?? PLAN_DAILY_LIMITS[e.QSTASH_PLAN],
    },
    changesVia: e.CHANGES_VIA,
    drainCron: e.DRAIN_CRON && e.DRAIN_CRON !== DRAIN_CRONS[e.CHANGES_VIA] ? e.DRAIN_CRON : undefined,
    siteUrl: e.SITE_URL?.replace(/\/+$/, ""),
    strategy: e.EMBEDDING_QUEUE_STRATEGY ?? (e.QSTASH_TOKEN ? "qstash" : "database"),
    openai: {
      apiKey: e.OPENAI_API_KEY,
      baseUrl: e.OPENAI_BASE_URL,
      tokensPerMinute: e.EMBEDDING_TPM,
      encoding: e.EMBEDDING_ENCODING ?? encodingFor(e.OPENAI_BASE_URL),
    },
    provider,
    embedderChosen: Boolean(e.EMBEDDER || e.OPENAI_API_KEY),
    model,
    dimensions: e.EMBEDDING_DIMENSIONS,
    shadow,
    sets: { storage: e.EMBEDDING_STORAGE, rollbackDays: e.EMBEDDING_ROLLBACK_DAYS },
    webhookSecret: e.WEBHOOK_SECRET,
    adminToken: e.ADMIN_TOKEN,
    searchToken: e.SEARCH_TOKEN,
    drain: { batchSize: e.DRAIN_BATCH_SIZE, budgetMs: e.DRAIN_BUDGET_MS },
    process: { budgetMs: e.PROCESS_BUDGET_MS, lingerMs: e.LANE_LINGER_MS, maxRowBytes: e.EMBEDDING_MAX_ROW_BYTES },
    search: {
      exactLimit: e.SEARCH_EXACT_LIMIT,
      public: e.SEARCH_PUBLIC === "true",
      budgetMs: e.SEARCH_BUDGET_MS,
      publicPerMinute: e.SEARCH_PUBLIC_PER_MINUTE,
    },
    local: { port: e.PORT, pgPort: e.PGPORT, dataDir: e.PGLITE_DATA_DIR },
    cost: {
      prices,
      budget: { tokens: e.EMBEDDING_BUDGET_TOKENS, usd: e.EMBEDDING_BUDGET_USD, period: e.EMBEDDING_BUDGET_PERIOD },
      retentionDays: e.SPEND_RETENTION_DAYS,
    },
    alerts: {
      webhookUrl: e.ALERT_WEBHOOK_URL,
      cron: e.ALERT_CRON,
      afterMs: e.ALERT_AFTER_SECONDS * 1000,
      failures: e.ALERT_FAILURES,
      qstashPercent: e.ALERT_QSTASH_PERCENT,
    },
    batch: { enabled: e.EMBEDDING_BATCH_API === "true", minItems: e.EMBEDDING_BATCH_MIN_ITEMS, maxInputs: e.EMBEDDING_BATCH_MAX_INPUTS },
  };
}

/** The configuration as it is safe to show: no secret, only whether each is set. */
export function publicConfig(config: Config) {
  return {
    strategy: config.strategy,
    provider: config.provider,
    model: config.model,
    dimensions: config.dimensions,
    database: config.databaseUrl ? (isNeonHost(config.databaseUrl) ? "neon" : "postgres") : "pglite",
    databaseWsProxy: config.databaseWsProxy ?? null,
    qstashUrl: shownUrl(config.qstash.url) ?? (config.qstash.token ? "https://qstash.upstash.io" : null),
    openaiBaseUrl: shownUrl(config.openai.baseUrl),
    embeddingEncoding: config.openai.encoding,
    siteUrl: shownUrl(config.siteUrl),
    qstashPlan: config.qstash.plan,
    qstashDailyLimit: Number.isFinite(config.qstash.dailyLimit) ? config.qstash.dailyLimit : null,
    changesVia: config.changesVia,
    secretsSet: {
      QSTASH_TOKEN: !!config.qstash.token,
      QSTASH_CURRENT_SIGNING_KEY: !!config.qstash.currentSigningKey,
      QSTASH_NEXT_SIGNING_KEY: !!config.qstash.nextSigningKey,
      OPENAI_API_KEY: !!config.openai.apiKey,
      WEBHOOK_SECRET: !!config.webhookSecret,
      ADMIN_TOKEN: !!config.adminToken,
      SEARCH_TOKEN: !!config.searchToken,
      ALERT_WEBHOOK_URL: !!config.alerts.webhookUrl,
    },
    drain: config.drain,
    process: config.process,
    searchPublic: config.search.public,
    searchPublicPerMinute: config.search.publicPerMinute,
    budget: config.cost.budget,
    batch: config.batch,
  };
}
