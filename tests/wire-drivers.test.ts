// The same code over the PostgreSQL wire: node-postgres, and the Neon serverless driver through a
// WebSocket-to-TCP proxy, as Neon's own proxy works; against pglite-socket, or the real server.

import type { AddressInfo } from "node:net";
import { connect, type Socket } from "node:net";
import { neonConfig } from "@neondatabase/serverless";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import ws, { WebSocketServer } from "ws";
import { processItems } from "../functions/core/process";
import type { Database } from "../functions/db/database";
import { neonDatabase } from "../functions/db/neon";
import { localEmbedder } from "../functions/embedders/local";
import * as schema from "../schema";
import { createRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { servePglite } from "../scripts/lib/pg-server";
import { freshDatabase } from "./support/database";

const { communityPost, embeddingQueue, embeddings } = schema;
let connection: Connection;
let server: { url: string; port: number; stop(): Promise<unknown> };

beforeAll(async () => {
  connection = await freshDatabase();
  server = connection.pglite
    ? await servePglite(connection.pglite, 0)
    : { url: connection.url!, port: Number(new URL(connection.url!).port), stop: async () => undefined };
});
afterAll(async () => {
  await server.stop();
  await connection.close();
});

/** Change capture and the processing core through a driver: the same results whichever it is. */
async function exercise(db: Database, title: string) {
  const [post] = await db.insert(communityPost).values({ title }).returning();
  const queued = await db.select().from(embeddingQueue).where(eq(embeddingQueue.contentId, post!.id));
  expect(queued).toEqual([expect.objectContaining({ contentType: "post", status: "pending" })]);
  const result = await processItems({ db, embedder: localEmbedder(1536), registry: createRegistry() }, [
    { contentType: "post", contentId: post!.id },
  ]);
  expect(result).toMatchObject({ embedded: 1, failed: [] });
  const [row] = await db.select().from(embeddings).where(eq(embeddings.contentId, post!.id));
  expect(row!.embedding).toHaveLength(1536);
  expect(row!.chunkText).toBe(title);
}

describe("over the PostgreSQL wire", () => {
  it("works with node-postgres (against pglite-socket, or the real server)", async () => {
    const pool = new pg.Pool({ connectionString: server.url, max: 1 });
    try {
      await exercise(drizzle({ client: pool, schema }) as unknown as Database, "Over node-postgres");
    } finally {
      await pool.end();
    }
  });

  it("works with the Neon serverless driver through a WebSocket proxy", async () => {
    const proxy = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    const sockets = new Set<Socket>();
    proxy.on("connection", (client) => {
      const tcp = connect(server.port, "127.0.0.1");
      sockets.add(tcp);
      tcp.on("data", (data) => client.send(data));
      tcp.on("close", () => client.close());
      tcp.on("error", () => client.close());
      client.on("message", (data: Buffer) => {
        tcp.write(data);
        // Terminate ('X'): close both sides, or pool.end() waits for ever.
        if (data[0] === 0x58 && data.length === 5) {
          tcp.end();
          client.close();
        }
      });
      client.on("close", () => tcp.end());
    });
    await new Promise((resolve) => proxy.once("listening", resolve));
    const proxyPort = (proxy.address() as AddressInfo).port;
    Object.assign(neonConfig, {
      webSocketConstructor: ws,
      wsProxy: () => `127.0.0.1:${proxyPort}/`,
      useSecureWebSocket: false,
      pipelineTLS: false,
      pipelineConnect: false,
    });
    const neonUrl = new URL(server.url);
    neonUrl.host = `neon.local:${server.port}`;
    neonUrl.password = "postgres";
    const { db, close } = neonDatabase(neonUrl.toString());
    try {
      await exercise(db, "Over the Neon driver");
      // Transactions work too: the store stage relies on them.
      await expect(
        db.transaction(async (tx) => {
          await tx.insert(communityPost).values({ title: "rolled back" });
          throw new Error("rollback");
        }),
      ).rejects.toThrow("rollback");
      expect(await db.$count(communityPost, eq(communityPost.title, "rolled back"))).toBe(0);
    } finally {
      await close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
