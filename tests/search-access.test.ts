// Who may search, and what search may return: closed unless opened, public types for the search token,
// every type for the admin, and of each row only what its registry entry lets leave the database.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../functions/config";
import { processItems } from "../functions/core/process";
import type { Deps } from "../functions/deps";
import { localEmbedder } from "../functions/embedders/local";
import { createSearchApp } from "../functions/search";
import { course } from "../schema";
import { createRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase } from "./support/database";

let connection: Connection;
beforeAll(async () => {
  connection = await freshDatabase();
});
afterAll(() => connection.close());

const depsWith = (env: Record<string, string>): Deps =>
  ({ db: connection.db, config: loadConfig(env), registry: createRegistry(), embedder: localEmbedder(1536) });
const searchAs = (deps: Deps, body: unknown, headers: Record<string, string> = {}) =>
  createSearchApp(deps).request("/api/embeddings/search", {
    method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body),
  });
type Hit = { contentType: string; contentId: string; score: number; snippet: string };
const hits = async (response: Response) => ((await response.json()) as { results: Hit[] }).results;

describe("search is closed unless opened", () => {
  it("answers 401 without SEARCH_TOKEN and says how to set it", async () => {
    const response = await searchAs(depsWith({}), { query: "anything" });
    expect(response.status).toBe(401);
    const { error } = (await response.json()) as { error: string };
    expect(error).toMatch(/SEARCH_TOKEN/);
    expect(error).toMatch(/SEARCH_PUBLIC=true/);
  });

  it("SEARCH_PUBLIC=true opens it on purpose; a wrong token is still refused", async () => {
    const deps = depsWith({ SEARCH_PUBLIC: "true" });
    expect((await searchAs(deps, { query: "anything" })).status).toBe(200);
    expect((await searchAs(deps, { query: "anything" }, { authorization: "Bearer wrong" })).status).toBe(401);
    expect(() => loadConfig({ SEARCH_PUBLIC: "yes" })).toThrow(/SEARCH_PUBLIC must be true or false/);
  });

  it("with SEARCH_TOKEN, needs it or the admin token", async () => {
    const deps = depsWith({ SEARCH_TOKEN: "search-token-1", ADMIN_TOKEN: "admin-token-1" });
    expect((await searchAs(deps, { query: "anything" })).status).toBe(401);
    expect((await searchAs(deps, { query: "anything" }, { authorization: "Bearer admin-token-1x" })).status).toBe(401);
    expect((await searchAs(deps, { query: "anything" }, { authorization: "Bearer search-token-1" })).status).toBe(200);
    expect((await searchAs(deps, { query: "anything" }, { authorization: "Bearer admin-token-1" })).status).toBe(200);
  });
});
