// Generated malformed payloads (250 an endpoint; HOSTILE_COUNT=5000 for a longer run) against every
// endpoint that reads a body: always a 4xx with a clear message (or a 2xx where the input was in fact
// valid), never a 5xx, and nothing written where the request was refused. Seeded: a failure prints the
// seed and the payload.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAllFunctions } from "../functions/app";
import { loadConfig } from "../functions/config";
import { MAX_BODY_BYTES } from "../functions/http/create-app";
import { communityPost } from "../schema";
import type { Connection } from "../scripts/lib/database";
import { qstashToken } from "../testing/qstash-token";
import { seededRandom } from "../testing/random";
import { freshDatabase } from "./support/database";
import { testDeps } from "./support/deps";
import { fingerprint } from "./support/fingerprint";

const SEED = Number(process.env.HOSTILE_SEED ?? 20261129);
// A sample in `npm test`; the e2e run (vitest.e2e.config.ts) sends 250 an endpoint.
const PER_ENDPOINT = Number(process.env.HOSTILE_COUNT ?? 40);
const SITE = "https://embeddings.example.com";
const KEY = "sig_hostile";
let connection: Connection;
let app: ReturnType<typeof createAllFunctions>;
let postId: string;

beforeAll(async () => {
  connection = await freshDatabase();
  const config = loadConfig({
    SITE_URL: SITE,
    QSTASH_CURRENT_SIGNING_KEY: KEY,
    QSTASH_NEXT_SIGNING_KEY: KEY,
    WEBHOOK_SECRET: "hostile-webhook",
    SEARCH_TOKEN: "hostile-search",
  });
  app = createAllFunctions(testDeps(connection.db, { config }));
  const [post] = await connection.db.insert(communityPost).values({ title: "Target" }).returning();
  postId = post!.id;
});
afterAll(() => connection.close());

function random(seed: number) {
  const next = seededRandom(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(list: readonly T[]) => list[int(list.length)]!;
  return { next, int, pick };
}

const NASTY_STRINGS = [
  "",
  " ",
  "\u0000",
  "abc\u0000def",
  "'; DROP TABLE embeddings; --",
  '" OR 1=1 --',
  "$1",
  "%s%s%n",
  "../../etc/passwd",
  "😀".repeat(50),
  "\ud800",
  "ﷺ".repeat(100),
  "a".repeat(5000),
  "<script>alert(1)</script>",
  "null",
  "__proto__",
  "00000000-0000-0000-0000-00000000000G",
  "course",
  "community_post",
  "post",
  "-1",
  "9".repeat(40),
  "\u202Eevil",
];

function generator(seed: number) {
  const r = random(seed);
  const value = (depth = 0): unknown => {
    switch (r.int(depth > 3 ? 6 : 9)) {
      case 0:
        return null;
      case 1:
        return r.next() < 0.5;
      case 2:
        return r.pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, 42]);
      case 3:
      case 4:
        return r.pick(NASTY_STRINGS);
      case 5:
        return r.pick([[], {}, "x".repeat(r.int(200_000))]);
      case 6:
        return Array.from({ length: r.int(4) }, () => value(depth + 1));
      case 7:
        return Object.fromEntries(
          Array.from({ length: r.int(4) }, () => [
            r.pick([
              "type",
              "table",
              "record",
              "contentType",
              "contentId",
              "items",
              "query",
              "__proto__",
              "constructor",
              "event",
              r.pick(NASTY_STRINGS),
            ]),
            value(depth + 1),
          ]),
        );
      default: {
        let nested: unknown = r.pick(NASTY_STRINGS);
        for (let i = r.int(500); i > 0; i--) nested = [nested];
        return nested;
      }
    }
  };
  const valid: Record<string, () => Record<string, unknown>> = {
    enqueue: () =>
      r.pick([
        { contentType: "post", contentId: postId },
        { type: "INSERT", table: "community_post", schema: "public", record: { id: postId, title: "x" }, old_record: null },
        {
          event: { op: "UPDATE", data: { old: { id: postId }, new: { id: postId } } },
          table: { schema: "public", name: "community_post" },
        },
      ]),
    "process-webhook": () => r.pick([{ doorbell: "immediate" }, { doorbell: "queued", batchSize: 10 }, { doorbell: "database" }]),
    drain: () => ({ budgetMs: 1000 }),
    search: () => ({ query: "target", types: ["post"], limit: 5, minScore: 0 }),
  };
  /** A payload that is wrong in one or more places, or not JSON at all. */
  const payload = (endpoint: string): string => {
    const roll = r.int(10);
    if (roll === 0)
      return r.pick([
        "",
        "{",
        "[1,",
        "nul",
        '{"a":}',
        "\u0000",
        "\ud800",
        "{'single':'quotes'}",
        "1e999999",
        `${"[".repeat(200_000)}1${"]".repeat(200_000)}`,
        `${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}`,
      ]);
    if (roll === 1) return JSON.stringify(value());
    const base = valid[endpoint]!() as Record<string, unknown>;
    for (let i = 0, n = 1 + r.int(3); i < n; i++) mutate(base);
    return JSON.stringify(base);
  };
  // Own properties only, set by definition: assigning "__proto__" would pollute the test process itself.
  const mutate = (target: Record<string, unknown>) => {
    const keys = Object.keys(target);
    const key = keys.length && r.next() < 0.8 ? r.pick(keys) : r.pick(["extra", "__proto__", "items", "contentId"]);
    const child = Object.hasOwn(target, key) ? target[key] : undefined;
    if (child && typeof child === "object" && !Array.isArray(child) && r.next() < 0.5) return mutate(child as Record<string, unknown>);
    if (Array.isArray(child) && child[0] && typeof child[0] === "object" && r.next() < 0.5)
      return mutate(child[0] as Record<string, unknown>);
    if (r.next() < 0.25) delete target[key];
    else Object.defineProperty(target, key, { value: value(), enumerable: true, writable: true, configurable: true });
  };
  return { payload };
}

const ENDPOINTS = ["enqueue", "process-webhook", "drain", "search"] as const;
const url = (endpoint: string) => `${SITE}/api/embeddings/${endpoint}`;

async function send(endpoint: string, body: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (endpoint === "enqueue") headers.authorization = "Bearer hostile-webhook";
  else if (endpoint === "search") headers.authorization = "Bearer hostile-search";
  else headers["upstash-signature"] = await qstashToken(KEY, url(endpoint), body);
  return app.request(url(endpoint), { method: "POST", body, headers });
}

describe("hostile input", () => {
  it.each(ENDPOINTS)(
    `%s: ${PER_ENDPOINT} malformed payloads, never a 5xx, nothing written when refused (seed ${SEED})`,
    async (endpoint) => {
      const { payload } = generator(SEED + ENDPOINTS.indexOf(endpoint));
      const statuses = new Map<number, number>();
      // After a refusal the database is as it was before it, so that fingerprint is the next case's "before".
      let before: string | undefined;
      for (let i = 0; i < PER_ENDPOINT; i++) {
        const body = payload(endpoint);
        before ??= await fingerprint(connection.db);
        const response = await send(endpoint, body);
        const context = `seed ${SEED}, case ${i}, ${endpoint}: ${body.slice(0, 300)}`;
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        expect(response.status, context).toBeLessThan(500);
        if (response.status >= 400) {
          const answer = (await response.json()) as { error?: unknown };
          expect(typeof answer.error === "string" && answer.error.length > 0, context).toBe(true);
          expect(await fingerprint(connection.db), context).toBe(before);
        } else before = undefined;
      }
      // The generator must mostly produce refusals, or it is not testing refusals.
      const refused = [...statuses].filter(([s]) => s >= 400).reduce((n, [, c]) => n + c, 0);
      expect(refused).toBeGreaterThan(PER_ENDPOINT / 2);
    },
  );

  it.each(ENDPOINTS)(
    "%s: a body nested 5,000 deep is 400 (489 to QStash's signed delivery: never retried), nothing written",
    async (endpoint) => {
      const deep = `${"[".repeat(5000)}${"]".repeat(5000)}`;
      const record = `{"id":"00000000-0000-0000-0000-000000000000","title":${deep}}`;
      const body =
        endpoint === "enqueue"
          ? `{"type":"UPDATE","table":"course","record":${record},"old_record":${record}}`
          : `{"query":"x","items":${deep},"sourceBody":${deep}}`;
      const before = await fingerprint(connection.db);
      const response = await send(endpoint, body);
      expect(response.status).toBe(endpoint === "process-webhook" ? 489 : 400);
      expect(((await response.json()) as { error: string }).error).toMatch(/nests deeper/);
      expect(await fingerprint(connection.db)).toBe(before);
    },
  );

  it.each(ENDPOINTS)("%s: a body over the limit is 413, before any parsing", async (endpoint) => {
    const before = await fingerprint(connection.db);
    const response = await send(endpoint, `{"query":"${"x".repeat(MAX_BODY_BYTES)}"}`);
    expect(response.status).toBe(413);
    expect(await fingerprint(connection.db)).toBe(before);
  });
});
