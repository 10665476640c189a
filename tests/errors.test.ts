// Errors as a person reads them: the database's answer and the cause chain, never a query's data.

import { sql } from "drizzle-orm";
import { DrizzleQueryError } from "drizzle-orm/errors";
import { describe, expect, it } from "vitest";
import { errorMessage, MAX_ERROR_LENGTH, postgresCode } from "../functions/lib/errors";
import { freshDatabase } from "./support/database";

const pgError = (message: string, code: string, detail?: string) => Object.assign(new Error(message), { code, detail });
const vector = Array.from({ length: 1536 }, (_, i) => Math.sin(i));

describe("errorMessage", () => {
  it("gives a failed query's database answer, not its SQL and parameters", () => {
    const cause = pgError(
      'duplicate key value violates unique constraint "embeddings_chunk_key"',
      "23505",
      "Key (content_type, content_id, chunk_index)=(post, 7, 0) already exists.",
    );
    const error = new DrizzleQueryError("insert into embeddings values ($1, $2)", ["post", JSON.stringify(vector)], cause);
    expect(errorMessage(error)).toBe(
      'duplicate key value violates unique constraint "embeddings_chunk_key" (Postgres 23505: Key (content_type, content_id, chunk_index)=(post, 7, 0) already exists.)',
    );
    expect(postgresCode(error)).toBe("23505");
  });

  it("drops a detail that would repeat the failing row (and its vector)", () => {
    const error = pgError(
      'null value in column "model" violates not-null constraint',
      "23502",
      `Failing row contains (1, post, 7, [${vector.join(",")}]).`,
    );
    expect(errorMessage(error)).toBe('null value in column "model" violates not-null constraint (Postgres 23502)');
  });

  it("leaves out the value a database message quotes (pgvector's parse error quotes the whole vector)", async () => {
    const connection = await freshDatabase();
    try {
      const literal = `[${vector.slice(0, 200).join(",")},oops]`;
      const error = await connection.db.execute(sql`SELECT ${literal}::vector`).then(
        () => undefined,
        (e: unknown) => e,
      );
      const message = errorMessage(error);
      expect(message).toMatch(/vector/);
      expect(message).toMatch(/Postgres 22P02/);
      expect(message).not.toContain(String(vector[1]).slice(0, 8));
      expect(message.length).toBeLessThan(200);
    } finally {
      await connection.close();
    }
  });

  it("follows the cause chain and stays within its bound", () => {
    const error = new Error("drain batch failed", { cause: new TypeError(`fetch failed ${"x".repeat(5000)}`) });
    const text = errorMessage(error);
    expect(text.startsWith("drain batch failed <- TypeError: fetch failed")).toBe(true);
    expect(text.length).toBeLessThanOrEqual(MAX_ERROR_LENGTH);
  });

  it("says a query failed when the driver gave no answer", () => {
    expect(errorMessage(new DrizzleQueryError("select 1", [vector]))).toBe("database query failed");
  });
});
