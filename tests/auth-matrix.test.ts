// Every way a caller can get authentication wrong, on every route of the table (functions/endpoints.ts):
// 401 and nothing changed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAllFunctions } from "../functions/app";
import { loadConfig } from "../functions/config";
import { type Auth, ROUTES } from "../functions/endpoints";
import { communityPost } from "../schema";
import type { Connection } from "../scripts/lib/database";
import { qstashToken } from "../testing/qstash-token";
import { freshDatabase } from "./support/database";
import { testDeps } from "./support/deps";
import { fingerprint } from "./support/fingerprint";

const SITE = "https://embeddings.example.com";
const KEYS = { current: "sig_current_matrix", next: "sig_next_matrix" };
let connection: Connection;
let app: ReturnType<typeof createAllFunctions>;
let body: Record<string, string>;

beforeAll(async () => {
  connection = await freshDatabase();
  const config = loadConfig({
    SITE_URL: SITE,
    QSTASH_CURRENT_SIGNING_KEY: KEYS.current,
    QSTASH_NEXT_SIGNING_KEY: KEYS.next,
    WEBHOOK_SECRET: "matrix-webhook",
    ADMIN_TOKEN: "matrix-admin",
    SEARCH_TOKEN: "matrix-search",
  });
  app = createAllFunctions(testDeps(connection.db, { config }));
  await connection.db.insert(communityPost).values({ title: "Matrix" });
  body = {
    "process-webhook": JSON.stringify({ doorbell: "queued" }),
  };
});
afterAll(() => connection.close());

const url = (endpoint: string) => `${SITE}/api/embeddings/${endpoint}`;
const send = (endpoint: string, raw: string, headers: Record<string, string>) =>
  app.request(url(endpoint), { method: "POST", body: raw, headers: { "content-type": "application/json", ...headers } });

/** A QStash-called function's valid body: `{}`, what its schedule sends, unless `body` says otherwise. */
const bodyOf = (endpoint: string) => body[endpoint] ?? "{}";
const QSTASH_ENDPOINTS = ROUTES.filter((r) => r.endpoint.auth === "qstash-signature").map((r) => r.path);
const now = () => Math.floor(Date.now() / 1000);

describe.each(QSTASH_ENDPOINTS)("%s", (endpoint) => {
  const forged: [string, (raw: string) => Promise<Record<string, string>>, string?][] = [
    ["no signature", async () => ({})],
    ["a wrong key", async (raw) => ({ "upstash-signature": await qstashToken("sig_wrong", url(endpoint), raw) })],
    ["a tampered body", async (raw) => ({ "upstash-signature": await qstashToken(KEYS.current, url(endpoint), `${raw} `) })],
    [
      "a different url",
      async (raw) => ({ "upstash-signature": await qstashToken(KEYS.current, `https://evil.example.com/api/embeddings/${endpoint}`, raw) }),
    ],
    [
      "an expired token",
      async (raw) => ({
        "upstash-signature": await qstashToken(KEYS.current, url(endpoint), raw, { exp: now() - 10, iat: now() - 400, nbf: now() - 400 }),
      }),
    ],
    [
      "a token not yet valid",
      async (raw) => ({ "upstash-signature": await qstashToken(KEYS.current, url(endpoint), raw, { nbf: now() + 300 }) }),
    ],
    [
      "a token for another function replayed",
      async (raw) => ({ "upstash-signature": await qstashToken(KEYS.current, url(endpoint === "drain" ? "maintenance" : "drain"), raw) }),
    ],
    [
      "a token that never expires",
      async (raw) => ({ "upstash-signature": await qstashToken(KEYS.current, url(endpoint), raw, { exp: null }) }),
    ],
    [
      "a token signed with HS384",
      async (raw) => ({ "upstash-signature": await qstashToken(KEYS.current, url(endpoint), raw, { alg: "HS384" }) }),
    ],
    [
      "a token signed with HS512",
      async (raw) => ({ "upstash-signature": await qstashToken(KEYS.current, url(endpoint), raw, { alg: "HS512" }) }),
    ],
  ];
  it.each(forged)("refuses %s with 401 and changes nothing", async (_name, headers) => {
    const before = await fingerprint(connection.db);
    const response = await send(endpoint, bodyOf(endpoint), await headers(bodyOf(endpoint)));
    expect(response.status).toBe(401);
    expect(await fingerprint(connection.db)).toBe(before);
  });

  it("accepts a genuine delivery whose signer's clock is a few seconds ahead of ours", async () => {
    const ahead = now() + 3;
    const response = await send(endpoint, bodyOf(endpoint), {
      "upstash-signature": await qstashToken(KEYS.current, url(endpoint), bodyOf(endpoint), { iat: ahead, nbf: ahead, exp: ahead + 300 }),
    });
    expect(response.status).toBe(200);
  });

  it("accepts the current and the next signing key", async () => {
    for (const key of [KEYS.current, KEYS.next]) {
      const response = await send(endpoint, bodyOf(endpoint), {
        "upstash-signature": await qstashToken(key, url(endpoint), bodyOf(endpoint)),
      });
      expect(response.status, key).toBe(200);
    }
  });
});

describe("secrets on the app-facing functions", () => {
  const secrets: Partial<Record<Auth, string>> = {
    "webhook-secret": "matrix-webhook",
    "search-token": "matrix-search",
    "admin-token": "matrix-admin",
  };
  const bodies: Record<string, string> = {
    enqueue: JSON.stringify({ contentType: "post", contentId: "00000000-0000-0000-0000-000000000000" }),
    search: JSON.stringify({ query: "matrix" }),
    // Resumed at once: the fingerprint's tables are left as they were.
    pause: JSON.stringify({ lane: "database" }),
    resume: JSON.stringify({ lane: "database" }),
  };
  const cases = ROUTES.filter((r) => r.endpoint.auth !== "qstash-signature").map((r): [string, string, string, string] => [
    r.path,
    r.method,
    secrets[r.endpoint.auth]!,
    bodies[r.path] ?? "",
  ]);
  it.each(cases)("%s: 401 without or with a wrong secret, nothing changed; the right one passes", async (endpoint, method, secret, raw) => {
    const call = (headers: Record<string, string>) =>
      app.request(url(endpoint), { method, body: raw || undefined, headers: { "content-type": "application/json", ...headers } });
    const before = await fingerprint(connection.db);
    const attempts: Record<string, string>[] = [
      {},
      { authorization: "Bearer wrong" },
      { authorization: `Bearer ${secret}x` },
      { authorization: secret },
      { "x-webhook-secret": "wrong" },
      // Malformed Basic credentials: not base64 at all, or base64 of bytes that are not UTF-8 text.
      { authorization: "Basic %%%not-base64%%%" },
      { authorization: "Basic ====" },
      { authorization: `Basic ${btoa("\u00ff\u00fe:x")}` },
    ];
    for (const headers of attempts) {
      expect((await call(headers)).status, JSON.stringify(headers)).toBe(401);
    }
    expect(await fingerprint(connection.db)).toBe(before);
    expect((await call({ authorization: `Bearer ${secret}` })).status).toBeLessThan(300);
  });
});
