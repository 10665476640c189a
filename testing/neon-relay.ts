// What Neon's proxy does, for tests: Neon's serverless driver speaks the PostgreSQL protocol over a
// WebSocket; this relays each WebSocket to a local PostgreSQL port (the served PGlite or a real server),
// so the functions' own database path (functions/db/neon.ts) runs offline, in Node or in workerd.
import { type AddressInfo, connect, type Socket } from "node:net";
import { neonConfig } from "@neondatabase/serverless";
import { WebSocket, WebSocketServer } from "ws";
import { type Connection, openPglite } from "../scripts/lib/database";
import { servePglite } from "../scripts/lib/pg-server";

export type NeonRelay = {
  /** A DATABASE_URL for the functions (the relay decides where it really goes). */
  databaseUrl: string;
  /** The relay as DATABASE_WS_PROXY names it (host:port/path). */
  wsProxy: string;
  /** Neon driver settings that send its WebSockets here, as source to put before an edge bundle's entry. */
  bundlePrelude: string;
  /** The relay's WebSocket URL: a runtime that cannot be configured sends the driver's WebSockets here. */
  webSocketUrl: string;
  close(): Promise<void>;
};

/** Serves `connection` on a PostgreSQL port if it is the embedded one, and relays Neon's WebSockets to it. */
export async function startNeonRelay(connection: Connection): Promise<NeonRelay> {
  // An edge function opens a connection per request: more, over a file, than the default of 100.
  const served = connection.pglite ? await servePglite(connection.pglite, 0, "127.0.0.1", 1000) : undefined;
  const target = new URL(served?.url ?? connection.url!);
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((resolve) => wss.once("listening", resolve));
  const sockets = new Set<Socket>();
  wss.on("connection", (ws) => {
    const tcp = connect(Number(target.port || 5432), target.hostname);
    sockets.add(tcp);
    const toServer = withoutPipelinedPassword();
    ws.on("message", (data: Buffer) => tcp.write(toServer(data)));
    tcp.on("data", (data) => {
      const held = toServer.serverSpoke();
      if (held.length) tcp.write(held);
      ws.send(data);
    });
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
    webSocketUrl: `ws://${proxy}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => wss.close(resolve));
      await served?.stop();
    },
  };
}

/**
 * The client's bytes as the server should get them. The driver at its defaults (an edge bundle's, which
 * nothing configures) sends its password right behind the startup message, unasked, as Neon's proxy
 * expects; a local server that asked for none (trust) would refuse it, so a password message sent before
 * the server has said anything is dropped. `serverSpoke` ends the filtering and returns what it held.
 */
function withoutPipelinedPassword() {
  let held: Buffer<ArrayBufferLike> | undefined = Buffer.alloc(0);
  let startupSent = false;
  const release = () => {
    const rest = held ?? Buffer.alloc(0);
    held = undefined;
    return rest;
  };
  const filter = (data: Buffer): Buffer => {
    if (!held) return data;
    held = Buffer.concat([held, data]);
    let out: Buffer<ArrayBufferLike> = Buffer.alloc(0);
    if (!startupSent) {
      if (held.length < 4 || held.length < held.readInt32BE(0)) return out;
      out = held.subarray(0, held.readInt32BE(0));
      held = held.subarray(out.length);
      startupSent = true;
    }
    if (held.length === 0) return out;
    if (held[0] !== 0x70 /* p */) return Buffer.concat([out, release()]);
    if (held.length < 5 || held.length < 1 + held.readInt32BE(1)) return out;
    held = held.subarray(1 + held.readInt32BE(1));
    return Buffer.concat([out, release()]);
  };
  return Object.assign(filter, { serverSpoke: release });
}

/** A new migrated PGlite behind a relay, for tests run without the suite's fresh databases (tests/deploy/). */
export async function startRelayedPglite() {
  const connection = await openPglite();
  await connection.migrate();
  const relay = await startNeonRelay(connection);
  // The relay's own close, taken before it is replaced (calling relay.close inside would call itself).
  const closeRelay = relay.close.bind(relay);
  return Object.assign(relay, {
    connection,
    close: async () => {
      await closeRelay();
      await connection.close();
    },
  });
}
