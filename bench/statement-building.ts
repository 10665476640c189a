// The drain's INSERT of embeddings, before and after issue 14b, on the same rows in the same run:
// Drizzle's `insert().values()` (8 parameters a row, each vector JSON text; the code of
// functions/core/store.ts before) against `storeEmbeddings` now (one array literal a column through
// `unnest`), and COPY of the same rows as text and in the binary format (a first load's writer,
// scripts/lib/copy-writer.ts), each encoded in the timed part. 1,000 rows a statement, each in its own transaction into the emptied table without the
// HNSW index, alternating, `rounds` times each (after one warm-up round); wall time and this process's
// CPU time. Dense vectors, as a real model answers.
import { sql } from "drizzle-orm";
import { type EmbeddedChunk, storeEmbeddings } from "../functions/core/store";
import type { Database } from "../functions/db/database";
import { float32Vector } from "../functions/db/float32";
import { dropHnswIndex } from "../functions/db/hnsw-index";
import { embeddings } from "../schema/pipeline-tables";
import { copyBinary } from "../scripts/lib/copy-binary";
import { EMBEDDING_COLUMNS, embeddingFields, textConfigOids } from "../scripts/lib/copy-writer";
import { copyText, openBenchDatabase } from "./bench-database";
import { percentile, realisticText, seededRandom } from "./corpus";

const model = { model: "text-embedding-3-small", dimensions: 1536 };

async function drizzleValues(tx: Database, rows: EmbeddedChunk[]) {
  await tx
    .insert(embeddings)
    .values(
      rows.map((c) => ({
        contentType: c.contentType,
        contentId: c.contentId,
        chunkIndex: c.chunkIndex,
        chunkText: c.text,
        contentHash: c.hash,
        model: model.model,
        dimensions: model.dimensions,
        embedding: float32Vector(c.embedding),
      })),
    )
    .onConflictDoUpdate({
      target: [embeddings.contentType, embeddings.contentId, embeddings.chunkIndex],
      set: {
        chunkText: sql`excluded.chunk_text`,
        contentHash: sql`excluded.content_hash`,
        model: sql`excluded.model`,
        dimensions: sql`excluded.dimensions`,
        embedding: sql`excluded.embedding`,
        updatedAt: sql`now()`,
      },
    });
}

export async function statementBuilding(rows = 1000, rounds = 5) {
  const database = await openBenchDatabase();
  const { db } = database;
  const random = seededRandom(rows);
  try {
    await dropHnswIndex(db);
    const batch: EmbeddedChunk[] = Array.from({ length: rows }, (_, i) => {
      const text = realisticText(random);
      // Dense, as a real model's (embedLocally's are sparse: 11 KB of text where a real one is 21 KB).
      const embedding = Array.from({ length: 1536 }, () => Math.fround((random() - 0.5) / 20));
      return { contentType: "post", contentId: String(i), chunkIndex: 0, text, hash: `h${i}`, embedding, textConfig: "english" };
    }).sort((a, b) => a.contentId.localeCompare(b.contentId));
    const line = (c: EmbeddedChunk) =>
      [
        c.contentType,
        c.contentId,
        c.chunkIndex,
        c.text,
        c.hash,
        model.model,
        model.dimensions,
        JSON.stringify(float32Vector(c.embedding)),
        c.textConfig,
      ]
        .map(copyText)
        .join("\t");
    const oid = await textConfigOids(db, ["english"], new Map());
    const variants: [string, (tx: Database) => Promise<unknown>][] = [
      ["Drizzle values(), 8 parameters a row (before)", (tx) => drizzleValues(tx, batch)],
      ["unnest of one array literal a column (the functions' drain)", (tx) => storeEmbeddings(tx, batch, [], model)],
      ["COPY text, the rows formatted in the timed part", () => database.copyIn("embeddings", EMBEDDING_COLUMNS, batch.map(line))],
      [
        "COPY binary (a first load's writer)",
        () => database.copyInBinary("embeddings", EMBEDDING_COLUMNS, copyBinary(batch.map((c) => embeddingFields(c, model, oid)))),
      ],
    ];
    const times = new Map(variants.map(([name]) => [name, { wall: [] as number[], cpu: [] as number[] }]));
    for (let round = 0; round < rounds + 1; round++) {
      for (const [name, write] of variants) {
        await db.execute(sql`TRUNCATE embeddings`);
        const cpu = process.cpuUsage();
        const started = performance.now();
        await db.transaction((tx) => write(tx));
        const wall = performance.now() - started;
        const used = process.cpuUsage(cpu);
        if (round === 0) continue; // warm-up
        times.get(name)!.wall.push(wall);
        times.get(name)!.cpu.push((used.user + used.system) / 1000);
      }
    }
    return [...times].map(([name, t]) => ({
      statement: name,
      rows,
      "wall p50 ms": Math.round(percentile(t.wall, 50)),
      "client CPU p50 ms": Math.round(percentile(t.cpu, 50)),
    }));
  } finally {
    await database.close();
  }
}
