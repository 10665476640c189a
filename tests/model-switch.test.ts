// A switch of embedder is handled, not discovered: while rows still have vectors of the old model,
// search answers from them (with the old model's query vector where it is at hand) and says so.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processItems } from "../functions/core/process";
import type { Deps } from "../functions/deps";
import { localEmbedder } from "../functions/embedders/local";
import { search } from "../functions/search";
import { queueStatus } from "../functions/status/read-status";
import { communityPost } from "../schema";
import type { Connection } from "../scripts/lib/database";
import { type FakeOpenAI, fakeServerEmbedder, startFakeOpenAI } from "../testing/fake-openai";
import { freshDatabase } from "./support/database";
import { testDeps } from "./support/deps";

let connection: Connection;
let api: FakeOpenAI;
let deps: Deps;
let oldPost: string;
beforeAll(async () => {
  [connection, api] = await Promise.all([freshDatabase(), startFakeOpenAI()]);
  deps = testDeps(connection.db, { embedder: fakeServerEmbedder(api) });
  // Embedded before the switch, by the local embedder.
  const [post] = await connection.db
    .insert(communityPost)
    .values({ title: "Tide pools and kelp forests", body: "Marine biology field notes" })
    .returning();
  oldPost = post!.id;
  await processItems({ ...deps, embedder: localEmbedder(1536) }, [{ contentType: "post", contentId: oldPost }]);
});
afterAll(async () => {
  await Promise.all([connection.close(), api.close()]);
});

describe("search during a switch of embedder", () => {
  it("answers from the old model's vectors with that model's query vector, and says re-embedding is under way", async () => {
    const answer = await search(deps, { query: "kelp forests tide pools", limit: 5, minScore: 0.1 }, "admin");
    expect(answer.results.map((r) => r.contentId)).toContain(oldPost);
    expect(answer.reembedding).toMatchObject({ models: ["local-lexical-v1"], note: expect.stringContaining("re-embedding under way") });
  });

  it("counts the chunks of another model on the status endpoint", async () => {
    expect((await queueStatus(deps)).chunksOfAnotherModel).toBe(1);
  });

  it("says nothing once every row is of the current model", async () => {
    await processItems(deps, [{ contentType: "post", contentId: oldPost }]);
    const answer = await search(deps, { query: "kelp forests tide pools", limit: 5, minScore: -1 }, "admin");
    expect(answer.reembedding).toBeUndefined();
    expect((await queueStatus(deps)).chunksOfAnotherModel).toBe(0);
    expect(answer.results.map((r) => r.contentId)).toContain(oldPost);
  });
});
