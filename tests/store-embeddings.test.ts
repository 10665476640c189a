// storeEmbeddings sends each column as one array literal (functions/core/store.ts): any text comes
// back as written, the vectors as their float32s, and a second write of a key updates it in place.
import { asc } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { storeEmbeddings, type EmbeddedChunk } from "../functions/core/store";
import type { Database } from "../functions/db/database";
import { neonDatabase } from "../functions/db/neon";
import { embeddings } from "../schema";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase } from "./support/database";
import { startNeonRelay } from "./support/neon-relay";

let connection: Connection;
beforeAll(async () => {
  connection = await freshDatabase();
});
afterAll(() => connection.close());

const model = { model: "m", dimensions: 1536 };
const hostile = [
  'a "quoted" word',
  'back\\slash \\\\ and \\"',
  "{braces},commas,",
  "NULL",
  "",
  " spaces ",
  "line\nbreak\ttab",
  "é 🎉 ' ; --",
];
const vector = (seed: number) => Array.from({ length: 1536 }, (_, i) => Math.fround(Math.sin(seed * 1000 + i) / (1 + (i % 7))));

async function storesAndUpserts(db: Database) {
  await db.delete(embeddings);
  const rows: EmbeddedChunk[] = hostile.map((text, i) => ({
    contentType: "post",
    contentId: `id "${i}" \\`,
    chunkIndex: i,
    text,
    hash: `h${i}`,
    embedding: vector(i),
  }));
  await db.transaction((tx) => storeEmbeddings(tx, rows, [], model));
  const read = async () =>
    (await db.select().from(embeddings).orderBy(asc(embeddings.chunkIndex))).map((r) => ({
      contentId: r.contentId,
      chunkIndex: r.chunkIndex,
      text: r.chunkText,
      hash: r.contentHash,
      // pgvector prints each float32 in its shortest form; as a float32 it is the one stored.
      embedding: r.embedding.map(Math.fround),
    }));
  expect(await read()).toEqual(
    rows.map((r) => ({ contentId: r.contentId, chunkIndex: r.chunkIndex, text: r.text, hash: r.hash, embedding: r.embedding })),
  );

  const changed = rows.map((r, i) => ({ ...r, text: `${r.text}!`, hash: `g${i}`, embedding: vector(i + 100) }));
  await db.transaction((tx) => storeEmbeddings(tx, changed, [], model));
  expect(await read()).toEqual(
    changed.map((r) => ({ contentId: r.contentId, chunkIndex: r.chunkIndex, text: r.text, hash: r.hash, embedding: r.embedding })),
  );
  expect(await db.$count(embeddings)).toBe(hostile.length);
}

it("stores any text and the vectors' float32s, in one statement, and upserts by key", () => storesAndUpserts(connection.db));

it("does the same through Neon's driver (the edge functions')", async () => {
  const relay = await startNeonRelay(connection);
  const neon = neonDatabase(relay.databaseUrl);
  try {
    await storesAndUpserts(neon.db);
  } finally {
    await neon.close();
    await relay.close();
  }
});
