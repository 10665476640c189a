// Serves the embedded PGlite on a PostgreSQL port, so psql, drizzle-kit studio or the app can connect.
import type { AddressInfo, Server } from "node:net";
import type { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

/**
 * Starts on `preferredPort`, or the next free one of the following twenty (PGLiteSocketServer listens
 * itself); 0 takes whatever port the system gives, as tests do so that two runs on one machine never collide.
 */
export async function servePglite(db: PGlite, preferredPort = 5432, host = "127.0.0.1", maxConnections = 100) {
  for (let port = preferredPort; port < Math.max(preferredPort, 1) + 20; port++) {
    // Every client shares PGlite's one backend session; more than one may connect (psql, studio, the app).
    const server = new PGLiteSocketServer({ db, port, host, maxConnections });
    try {
      await server.start();
      if (port !== preferredPort) console.warn(`[local] PostgreSQL port ${preferredPort} is taken; serving on ${port} instead`);
      const bound = port || ((server as unknown as { server: Server }).server.address() as AddressInfo).port;
      return { port: bound, url: `postgres://postgres:postgres@${host}:${bound}/postgres`, stop: () => server.stop() };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    }
  }
  throw new Error(`no free PostgreSQL port between ${preferredPort} and ${preferredPort + 19}`);
}
