// Listens on a port, or the next free one when it is taken (port 0: any free port), and says so.
import type { Server } from "node:http";

export async function listenOnFreePort(server: Server, port: number, host = "127.0.0.1"): Promise<number> {
  const last = port === 0 ? 0 : port + 19;
  for (let candidate = port; candidate <= last; candidate++) {
    const taken = await new Promise<boolean>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => (error.code === "EADDRINUSE" ? resolve(true) : reject(error));
      server.once("error", onError);
      server.listen(candidate, host, () => {
        server.off("error", onError);
        resolve(false);
      });
    });
    if (!taken) {
      if (candidate !== port) console.warn(`[local] port ${port} is taken; listening on ${candidate} instead`);
      return (server.address() as { port: number }).port;
    }
  }
  throw new Error(`no free port between ${port} and ${last}`);
}
