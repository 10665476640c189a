// What Neon's proxy does, for tests: Neon's serverless driver speaks the PostgreSQL protocol over a
// WebSocket; this relays each WebSocket to a local PostgreSQL port (the served PGlite or a real server),
// so the functions' own database path (functions/db/neon.ts) runs offline, in Node or in workerd.
import { type AddressInfo, connect, type Socket } from "node:net";
import { neonConfig } from "@neondatabase/serverless";
import { WebSocket, WebSocketServer } from "ws";
import type { Connection } from "../../scripts/lib/database";
import { servePglite } from "../../scripts/lib/pg-server";

export type NeonRelay = {
  /** A DATABASE_URL for the functions (the relay decides where it really goes). */
  databaseUrl: string;
  /** The relay as DATABASE_WS_PROXY names it (host:port/path). */
  wsProxy: string;
  /** Neon driver settings that send its WebSockets here, as source to put before an edge bundle's entry. */
  bundlePrelude: string;
  close(): Promise<void>;
};

/** Serves `connection` on a PostgreSQL port if it is the embedded one, and relays Neon's WebSockets to it. */
export async function startNeonRelay(connection: Connection): Promise<NeonRelay> {
  // An edge function opens a connection per request: more, over a file, than the default of 100.
  const served = connection.pglite
    ? await servePglite(connection.pglite, 15_600 + Math.floor(Math.random() * 300), "127.0.0.1", 1000)
    : undefined;
  const target = new URL(served?.url ?? connection.url!);
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((resolve) => wss.once("listening", resolve));
  const sockets = new Set<Socket>();
  wss.on("connection", (ws) => {
    const tcp = connect(Number(target.port || 5432), target.hostname);
    sockets.add(tcp);
    ws.on("message", (data: Buffer) => tcp.write(data));
    tcp.on("data", (data) => ws.send(data));
    tcp.on("close", () => {
      sockets.delete(tcp);
      ws.close();
    });
    tcp.on("error", () => ws.close());
    ws.on("close", () => tcp.destroy());
  });
  const proxy = `127.0.0.1:${(wss.address() as AddressInfo).port}/v2`;
  // Plain WebSocket and no pipelining: Neon's proxy takes TLS and pipelined passwords, PostgreSQL does not.
  Object.assign(neonConfig, { wsProxy: () => proxy, useSecureWebSocket: false, pipelineTLS: false, pipelineConnect: false });
  // Node 20 has no global WebSocket (22 and later, on Vercel and Netlify, do).
  neonConfig.webSocketConstructor ??= WebSocket as unknown as typeof neonConfig.webSocketConstructor;
  return {
    databaseUrl: target.toString(),
    wsProxy: proxy,
    bundlePrelude: `import { neonConfig } from "@neondatabase/serverless";
Object.assign(neonConfig, { wsProxy: () => ${JSON.stringify(proxy)}, useSecureWebSocket: false, pipelineTLS: false, pipelineConnect: false });`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => wss.close(resolve));
      await served?.stop();
    },
  };
}
