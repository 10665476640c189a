// A port free at this moment, for what must be told its port before it listens (a given QSTASH_URL):
// fixed ports collide when two checkouts run their tests on one machine. Anything that can listen on
// port 0 itself should (servePglite, PORT=0, PGPORT=0).
import { createServer } from "node:net";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
