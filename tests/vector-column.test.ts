// functions/db/vector-column.ts: start-up compares the embedder's dimensions with the column's.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkVectorColumn } from "../functions/db/vector-column";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase } from "./support/database";

let connection: Connection;
beforeAll(async () => {
  connection = await freshDatabase();
});
afterAll(() => connection.close());

describe("the vector column's check", () => {
  it("passes when the column holds the embedder's dimensions, and names both sizes when it does not", async () => {
    await expect(checkVectorColumn(connection.db, 1536)).resolves.toBeUndefined();
    await expect(checkVectorColumn(connection.db, 768)).rejects.toThrow(
      /^The embeddings column is vector\(1536\) but the embedder makes 768 dimensions/,
    );
  });
});
