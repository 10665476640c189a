// The database a benchmark runs on: a fresh database on BENCH_DATABASE_URL's PostgreSQL server (made
// for the benchmark, dropped after), or an embedded PGlite when it is unset. Besides the pipeline's
// Drizzle handle it offers what the limits are measured with: plain SQL and COPY … FROM STDIN.
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { type Connection, openPglite, postgresConnection } from "../scripts/lib/database";
import { adminQuery, databaseUrl } from "../scripts/lib/postgres-admin";

export const benchServerUrl = process.env.BENCH_DATABASE_URL || undefined;
export const benchDatabaseLabel = benchServerUrl ? "PostgreSQL" : "PGlite";

export type BenchDatabase = Connection & {
  /** Plain SQL with parameters, outside the pipeline's code. */
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** `COPY table (columns) FROM STDIN` of rows already in COPY's text format (one line each). */
  copyIn(table: string, columns: string[], lines: string[]): Promise<void>;
  /** The same in COPY's binary format (scripts/lib/copy-binary.ts): one buffer, header to trailer. */
  copyInBinary(table: string, columns: string[], data: Buffer): Promise<void>;
  /** The server's messages to `query`'s session (NOTICE, and DEBUG at `client_min_messages = debug1`), PostgreSQL only. */
  notices: string[];
};

export async function openBenchDatabase(): Promise<BenchDatabase> {
  if (!benchServerUrl) {
    const connection = await openPglite();
    await connection.migrate();
    const pglite = connection.pglite!;
    return {
      ...connection,
      notices: [],
      query: async (text, params) => (await pglite.query(text, params)).rows as never,
      copyIn: async (table, columns, lines) => {
        await pglite.query(`COPY ${table} (${columns.join(", ")}) FROM '/dev/blob'`, [], { blob: new Blob([`${lines.join("\n")}\n`]) });
      },
      copyInBinary: async (table, columns, data) => {
        await pglite.query(`COPY ${table} (${columns.join(", ")}) FROM '/dev/blob' (FORMAT binary)`, [], {
          blob: new Blob([new Uint8Array(data)]),
        });
      },
    };
  }
  const name = `bench_${randomBytes(6).toString("hex")}`;
  await adminQuery(benchServerUrl, `CREATE DATABASE ${name}`);
  const url = databaseUrl(benchServerUrl, name);
  const connection = postgresConnection(url, () => adminQuery(benchServerUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  const client = new pg.Client({ connectionString: url });
  const notices: string[] = [];
  try {
    await connection.migrate({ sampleTables: true });
    await client.connect();
    client.on("notice", (notice) => notices.push(notice.message ?? ""));
  } catch (error) {
    await connection.close();
    throw error;
  }
  return {
    ...connection,
    notices,
    query: async (text, params) => (await client.query(text, params)).rows,
    copyIn: async (table, columns, lines) => {
      const stream = client.query(copyFrom(`COPY ${table} (${columns.join(", ")}) FROM STDIN`));
      await pipeline(Readable.from(chunked(lines)), stream);
    },
    copyInBinary: async (table, columns, data) => {
      await pipeline(Readable.from([data]), client.query(copyFrom(`COPY ${table} (${columns.join(", ")}) FROM STDIN (FORMAT binary)`)));
    },
    close: async () => {
      await client.end();
      await connection.close();
    },
  };
}

/** About 1 MB a write, so that the stream is not one write per row. */
function* chunked(lines: string[]) {
  let buffer: string[] = [];
  let size = 0;
  for (const line of lines) {
    buffer.push(line);
    size += line.length + 1;
    if (size > 1 << 20) {
      yield `${buffer.join("\n")}\n`;
      buffer = [];
      size = 0;
    }
  }
  if (buffer.length) yield `${buffer.join("\n")}\n`;
}

/** A value in COPY's text format. */
export function copyText(value: unknown): string {
  if (value === null || value === undefined) return "\\N";
  return String(value).replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");
}
