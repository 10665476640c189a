// LISTEN for npm start with DATABASE_URL: the capture triggers' notifications, forwarded to enqueue.
import pg from "pg";
import type { Connection } from "./database";

export type ListenOptions = {
  /** The wait before reconnect attempt `attempt` (0, 1, …): by default 1 s doubling up to 30 s. */
  retryDelayMs?: (attempt: number) => number;
};

const backoffMs = (attempt: number) => Math.min(30_000, 1000 * 2 ** attempt);

/**
 * LISTEN on a dedicated connection of its own (a pooled one would be handed to queries). Over TCP for
 * Neon too: a Node process can reach it directly. One connection at most: a drop (whichever of its
 * `error` and `end` events says so, however often) starts one reconnect loop, which backs off and
 * keeps trying until the server takes it again. Missed notifications are not lost: their queue rows
 * wait for the drain.
 */
export function listenOn(url: string, options: ListenOptions = {}): Connection["listen"] {
  const delay = options.retryDelayMs ?? backoffMs;
  return async (channel, listener) => {
    let client: pg.Client | undefined;
    let stopped = false;
    let reconnecting = false;
    let timer: ReturnType<typeof setTimeout> | undefined;

    const connect = async () => {
      const next = new pg.Client({ connectionString: url });
      next.on("error", () => lost(next));
      next.on("end", () => lost(next));
      next.on("notification", (message) => message.channel === channel && listener(message.payload ?? ""));
      try {
        await next.connect();
        await next.query(`LISTEN ${pgIdentifier(channel)}`);
      } catch (error) {
        await next.end().catch(() => undefined);
        throw error;
      }
      if (stopped) await next.end();
      else client = next;
    };
    const lost = (which: pg.Client) => {
      if (which !== client || stopped) return; // an old connection's late event, or a deliberate stop
      client = undefined;
      void which.end().catch(() => undefined);
      console.warn("[database] notification connection lost; reconnecting");
      void reconnect();
    };
    const reconnect = async () => {
      if (reconnecting) return;
      reconnecting = true;
      for (let attempt = 0; !stopped && !client; attempt++) {
        await new Promise<void>((resolve) => (timer = setTimeout(resolve, delay(attempt))));
        if (stopped) break;
        await connect().catch((error: Error) =>
          console.warn(`[database] notification connection: reconnect failed (${error.message}); trying again`),
        );
      }
      reconnecting = false;
    };

    await connect();
    return async () => {
      stopped = true;
      clearTimeout(timer);
      const last = client;
      client = undefined;
      await last?.end();
    };
  };
}

const pgIdentifier = (name: string) => `"${name.replace(/"/g, '""')}"`;
