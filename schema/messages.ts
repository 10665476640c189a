// The shapes of the messages the functions accept, as Valibot schemas (ARCHITECTURE.md §3, "Endpoints").
import * as v from "valibot";

/** Most items one request may carry. */
export const MAX_ITEMS = 1000;

// Postgres text cannot hold NUL, and no id or query needs control characters: refuse them up front.
const NO_CONTROL_CHARACTERS = /^[^\u0000-\u001f\u007f]*$/;

/** An id as webhooks send it: a string, or a number that we keep as its decimal text. */
export const ContentIdSchema = v.pipe(
  v.union(
    [
      v.pipe(
        v.string(),
        v.trim(),
        v.minLength(1, "must not be empty"),
        v.maxLength(200, "is too long"),
        v.regex(NO_CONTROL_CHARACTERS, "must not contain control characters"),
      ),
      v.pipe(v.number(), v.integer(), v.safeInteger()),
    ],
    "must be a string or an integer",
  ),
  v.transform(String),
);

/**
 * A content type's name: a lower-case letter, then lower-case letters, digits or `_`, 63 characters at
 * most (a Postgres identifier's length: it names the type's triggers). The registry refuses any other.
 */
export const CONTENT_TYPE_NAME = /^[a-z][a-z0-9_]{0,62}$/;

const ContentTypeName = v.pipe(v.string("must be a string"), v.regex(CONTENT_TYPE_NAME, "must be a content type name"));

/** The lanes a change may take (functions/qstash/lanes.ts); a doorbell names one. */
export const LANE_NAMES = ["immediate", "queued", "database"] as const;

/** A doorbell, the one message process-webhook takes: "claim and process this lane's pending queue rows". */
export const DoorbellSchema = v.object({
  doorbell: v.picklist(LANE_NAMES, `must be one of ${LANE_NAMES.join(", ")}`),
  /** The first batch's size, from the previous run (as the drain's chain passes it on). */
  batchSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000))),
});

const Row = v.record(v.string(), v.unknown());
const TableName = v.pipe(v.string("must be a string"), v.minLength(1), v.maxLength(128));

export const SupabaseWebhookSchema = v.object({
  type: v.picklist(["INSERT", "UPDATE", "DELETE"], "must be INSERT, UPDATE or DELETE"),
  table: TableName,
  schema: v.optional(v.string()),
  record: v.nullish(Row),
  old_record: v.nullish(Row),
});

export const HasuraEventSchema = v.object({
  event: v.object({
    op: v.picklist(["INSERT", "UPDATE", "DELETE", "MANUAL"], "must be INSERT, UPDATE, DELETE or MANUAL"),
    data: v.object({ old: v.nullish(Row), new: v.nullish(Row) }),
  }),
  table: v.object({ schema: v.optional(v.string()), name: TableName }),
});

export const DirectItemSchema = v.object({
  contentType: ContentTypeName,
  contentId: ContentIdSchema,
  priority: v.optional(v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(1), v.maxValue(10))),
  op: v.optional(v.picklist(["upsert", "delete"])),
});

/** hybrid: both rankings fused by reciprocal rank fusion; vector: cosine similarity; keyword: Postgres full text. */
export const SEARCH_MODES = ["hybrid", "vector", "keyword"] as const;
export type SearchMode = (typeof SEARCH_MODES)[number];

const weight = v.optional(v.pipe(v.number("must be a number"), v.minValue(0), v.maxValue(10)), 1);

/**
 * Reciprocal rank fusion: a row's score is the sum over the rankings it is in of weight / (k + rank).
 * k = 60 is the value of the method's paper (Cormack et al., 2009); a smaller k favours the top ranks.
 */
const FusionSchema = v.pipe(
  v.strictObject({
    k: v.optional(v.pipe(v.number("must be a number"), v.integer(), v.minValue(1), v.maxValue(1000)), 60),
    vector: weight,
    keyword: weight,
  }),
  v.check((f) => f.vector > 0 || f.keyword > 0, "one weight at least must be above 0"),
);

const FilterScalar = v.union(
  [
    v.pipe(v.string(), v.maxLength(200, "is too long"), v.regex(NO_CONTROL_CHARACTERS, "must not contain control characters")),
    v.number(),
    v.boolean(),
  ],
  "must be a string, number or boolean, a list of them, or a date range {from, to}",
);
/** ISO 8601 date or date-time ("2026-01-31", "2026-01-31T12:00:00Z"), a real one. */
const IsoDate = v.pipe(
  v.string("must be an ISO 8601 date"),
  v.regex(/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$/, "must be an ISO 8601 date"),
  v.check((text) => !Number.isNaN(Date.parse(text)), "must be an ISO 8601 date"),
);

/**
 * A search filter's value: one value or any of several (equality), or a date range, `from` included
 * and `to` not. Which fields a type may be filtered by is its registry entry's `search.filters`.
 */
export const FilterSchema = v.union(
  [
    FilterScalar,
    v.pipe(v.array(FilterScalar), v.minLength(1, "must list one value at least"), v.maxLength(100, "must list at most 100 values")),
    v.pipe(
      v.strictObject({ from: v.optional(IsoDate), to: v.optional(IsoDate) }),
      v.check((range) => range.from !== undefined || range.to !== undefined, "a date range needs from, to or both"),
    ),
  ],
  "must be a string, number or boolean, a list of them, or a date range {from, to}",
);
export type FilterRequest = v.InferOutput<typeof FilterSchema>;

export const SearchRequestSchema = v.object({
  query: v.pipe(
    v.string("must be a string"),
    v.trim(),
    v.minLength(1, "must not be empty"),
    v.maxLength(2000, "must be at most 2000 characters"),
    v.regex(/^[^\u0000]*$/, "must not contain NUL characters"),
  ),
  types: v.optional(v.pipe(v.array(ContentTypeName), v.maxLength(20))),
  limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100)), 10),
  minScore: v.optional(v.pipe(v.number(), v.minValue(-1), v.maxValue(1)), 0),
  mode: v.optional(v.picklist(SEARCH_MODES, `must be one of ${SEARCH_MODES.map((m) => `"${m}"`).join(", ")}`), "hybrid"),
  fusion: v.optional(FusionSchema, {}),
  filters: v.optional(
    v.pipe(
      v.record(v.pipe(v.string(), v.regex(/^[A-Za-z][A-Za-z0-9_]{0,62}$/, "must be a filter name")), FilterSchema),
      v.check((filters) => Object.keys(filters).length <= 10, "at most 10 filters"),
    ),
  ),
});
