// Migrations from scratch, as `npm run db:migrate` meets a database: one without the registered tables
// (refused, saying what to do), an empty file-backed one, then again after a restart, and an
// application's own tables. Apart from `npm test`, which starts every file from a copy of the database
// migrated once (tests/support/global-setup.ts).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getTableName } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { course, embeddingQueue } from "../../schema";
import { defaultRegistry } from "../../schema/registry";
import { openPglite } from "../../scripts/lib/database";
import { migrationsFolder, sampleTablesFolder } from "../../scripts/lib/migrations";

describe("migrations from scratch", () => {
  it("refuse, saying what to do, when the registered tables are missing", async () => {
    const empty = await openPglite();
    try {
      const tables = defaultRegistry.map((entry) => getTableName(entry.table));
      await expect(empty.migrate({ sampleTables: false })).rejects.toThrow(`registered tables ${tables.join(", ")} do not exist`);
      await expect(empty.migrate({ sampleTables: false })).rejects.toThrow(/--sample-tables/);
      const created = await empty.pglite!.query("SELECT to_regclass('embeddings') AS t");
      expect(created.rows).toEqual([{ t: null }]);
    } finally {
      await empty.close();
    }
  });

  it("apply to an empty file-backed database and again, harmlessly, after a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qe-migrate-"));
    try {
      const first = await openPglite(dir);
      await first.migrate();
      await first.db.insert(course).values({ title: "Kept across restarts" });
      await first.close();

      const second = await openPglite(dir);
      await second.migrate();
      const rows = await second.db.select().from(course);
      expect(rows.map((r) => r.title)).toEqual(["Kept across restarts"]);
      const migrations = await second.pglite!.query<{ n: number }>("select count(*)::int n from drizzle.__drizzle_migrations");
      const journal = JSON.parse(readFileSync(join(migrationsFolder, "meta/_journal.json"), "utf8")) as { entries: unknown[] };
      expect(migrations.rows[0]!.n).toBe(journal.entries.length);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("attach to an application's own tables without touching their shape or rows", async () => {
    const app = await openPglite();
    try {
      // The application's database: the platform's tables, with a column of its own and a row.
      for (const file of readdirSync(sampleTablesFolder)
        .filter((f) => f.endsWith(".sql"))
        .sort())
        await app.pglite!.exec(readFileSync(join(sampleTablesFolder, file), "utf8"));
      await app.pglite!.exec("ALTER TABLE course ADD COLUMN price integer; INSERT INTO course (title, price) VALUES ('Existing', 10)");

      await app.migrate({ sampleTables: false });
      const existing = await app.pglite!.query<{ title: string; price: number }>("SELECT title, price FROM course");
      expect(existing.rows).toEqual([{ title: "Existing", price: 10 }]);
      expect(await app.db.$count(embeddingQueue), "existing rows wait for a backfill").toBe(0);
      await app.pglite!.exec("UPDATE course SET title = 'Existing, renamed'");
      expect(await app.db.select().from(embeddingQueue)).toEqual([expect.objectContaining({ contentType: "course", op: "upsert" })]);
    } finally {
      await app.close();
    }
  });
});
