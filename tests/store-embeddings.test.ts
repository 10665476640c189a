// storeEmbeddings sends each column as one array literal (functions/core/store.ts): any text comes
// back as written, the vectors as their float32s, and a second write of a key updates it in place.
// The same holds for a first load's binary COPY (scripts/lib/copy-writer.ts), which falls back to the
// upsert, in the same transaction, when a key is stored already.
import { asc, eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ChunkWriter, type EmbeddedChunk, storeEmbeddings } from "../functions/core/store";
import { type Database, rowsOf } from "../functions/db/database";
import { neonDatabase } from "../functions/db/neon";
import * as schema from "../schema";
import { embeddings } from "../schema";
import { copyChunkWriter } from "../scripts/lib/copy-writer";
import type { Connection } from "../scripts/lib/database";
import { startNeonRelay } from "../testing/neon-relay";
import { watchCopies } from "./support/copy-spy";
import { freshDatabase, onRealPostgres, POSTGRES_ONLY } from "./support/database";

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

async function storesAndUpserts(db: Database, write?: ChunkWriter) {
  await db.delete(embeddings);
  const rows: EmbeddedChunk[] = hostile.map((text, i) => ({
    contentType: "post",
    contentId: `id "${i}" \\`,
    chunkIndex: i,
    text,
    hash: `h${i}`,
    embedding: vector(i),
    // Each type's text search configuration goes with its rows (schema/registry.ts `search.textConfig`).
    textConfig: i % 2 ? "simple" : "english",
  }));
  await db.transaction((tx) => storeEmbeddings(tx, rows, [], model, write));
  const read = async () =>
    (await db.select().from(embeddings).orderBy(asc(embeddings.chunkIndex))).map((r) => ({
      contentId: r.contentId,
      chunkIndex: r.chunkIndex,
      text: r.chunkText,
      hash: r.contentHash,
      // pgvector prints each float32 in its shortest form; as a float32 it is the one stored.
      embedding: r.embedding.map(Math.fround),
      textConfig: r.textConfig,
    }));
  const expected = (r: EmbeddedChunk) => ({
    contentId: r.contentId,
    chunkIndex: r.chunkIndex,
    text: r.text,
    hash: r.hash,
    embedding: r.embedding,
    textConfig: r.textConfig,
  });
  // The full text is Postgres's own of the row's text and configuration, in the same write as the vector.
  const fullTextAgrees = async () =>
    (
      await rowsOf<{ n: number }>(
        db.execute(sql`SELECT count(*)::int AS n FROM embeddings WHERE text_search = to_tsvector(text_config, chunk_text)`),
      )
    )[0]!.n;
  expect(await read()).toEqual(rows.map(expected));
  expect(await fullTextAgrees()).toBe(rows.length);
  const breaking = sql`SELECT chunk_index FROM embeddings WHERE text_search @@ websearch_to_tsquery(text_config, 'breaking')`;
  // 'english' stems "break" and "breaking" alike; 'simple' keeps words as they are.
  expect(await rowsOf(db.execute(breaking))).toEqual(
    hostile.indexOf("line\nbreak\ttab") % 2 ? [] : [{ chunk_index: hostile.indexOf("line\nbreak\ttab") }],
  );

  // Stored keys and a new one in one write; then, in the same transaction, the first item's chunks go.
  const changed = [
    ...rows.map((r, i) => ({ ...r, text: `${r.text}!`, hash: `g${i}`, embedding: vector(i + 100) })),
    { ...rows[0]!, contentId: "new", chunkIndex: hostile.length, hash: "n", embedding: vector(200) },
  ];
  const first = { contentType: "post", contentId: rows[0]!.contentId, count: 0 };
  await db.transaction((tx) => storeEmbeddings(tx, changed, [first], model, write));
  expect(await read()).toEqual(changed.slice(1).map(expected));
  expect(await fullTextAgrees()).toBe(changed.length - 1);
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

it.skipIf(!onRealPostgres)(`does the same by binary COPY, a first load's writer, falling back to the upsert ${POSTGRES_ONLY}`, async () => {
  const client = new pg.Client({ connectionString: connection.url });
  await client.connect();
  try {
    const db = drizzle({ client, schema }) as unknown as Database;
    const write = copyChunkWriter(client);
    const copied = await watchCopies(() => storesAndUpserts(db, write));
    // The first write went by COPY; the second tried it, met keys stored meanwhile, and upserted instead.
    expect(copied.statements).toHaveLength(2);
    expect(copied.statements[0]).toMatch(/^COPY embeddings .* \(FORMAT binary\)$/s);
    // A key known to be stored when its batch was read goes straight to the upsert.
    const known = {
      contentType: "post",
      contentId: "new",
      chunkIndex: hostile.length,
      text: "again",
      hash: "a",
      embedding: vector(300),
      textConfig: "simple",
    };
    const again = await watchCopies(() => db.transaction((tx) => storeEmbeddings(tx, [{ ...known, stored: true }], [], model, write)));
    expect(again.statements).toHaveLength(0);
    const [row] = await db.select().from(embeddings).where(eq(embeddings.contentId, "new"));
    expect({ text: row?.chunkText, embedding: row?.embedding.map(Math.fround) }).toEqual({ text: "again", embedding: known.embedding });
  } finally {
    await client.end();
  }
});
