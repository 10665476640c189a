// The local stack in one process: the functions on one port at their Vercel paths, the QStash
// emulator, the schedules of functions/endpoints.ts, and trigger notifications forwarded to enqueue as a webhook would.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { getRequestListener } from "@hono/node-server";
import * as v from "valibot";
import { createAllFunctions } from "../../functions/app";
import { type Config, loadConfig } from "../../functions/config";
import { checkVectorColumn } from "../../functions/db/vector-column";
import type { Deps } from "../../functions/deps";
import { createEmbedder, createShadowEmbedder } from "../../functions/embedders";
import type { Embedder } from "../../functions/embedders/embedder";
import { endpointUrl } from "../../functions/endpoints";
import { QUEUES } from "../../functions/qstash/lanes";
import { qstashPublisher } from "../../functions/qstash/publisher";
import { queueOtherModels } from "../../functions/queue";
import { readSets, servingEmbedder } from "../../functions/sets/sets";
import { NOTIFY_CHANNEL } from "../../schema/capture-sql";
import { DirectItemSchema, MAX_ITEMS } from "../../schema/messages";
import { createRegistry } from "../../schema/registry";
import type { EmulatorOptions } from "../qstash-emulator/emulator";
import { type RunningEmulator, startEmulator } from "../qstash-emulator/http";
import { isPlanName } from "../qstash-emulator/plans";
import type { Backoff } from "../qstash-emulator/retry";
import type { Connection } from "./database";
import { listenOnFreePort } from "./listen";
import { refuseUnaskedSwitch } from "./model-switch";
import { type SyncReport, schedulesFrom, syncSchedules } from "./schedules";

export type LocalStackOptions = {
  connection: Connection;
  env?: Record<string, string | undefined>;
  port?: number;
  emulatorPort?: number;
  embedder?: Embedder;
  emulator?: Partial<EmulatorOptions>;
  /** Forward the triggers' notifications to enqueue, as a database webhook would. */
  forwardNotifications?: boolean;
  /** Create the schedules (functions/endpoints.ts) on the emulator, DRAIN_CRON applied. */
  schedules?: boolean;
};

export type LocalStack = {
  url: string;
  /** Items embedded with another model, queued at start-up for re-embedding. */
  reembedding: number;
  deps: Deps;
  config: Config;
  emulator?: RunningEmulator;
  /** The schedules created, as the plan let them be. */
  schedules: SyncReport["schedules"];
  close(): Promise<void>;
};

/** QStash's own back-off (12 s, 2 min 28 s, 30 min …) unless QSTASH_EMULATOR_BACKOFF=fast asks for the tests' mode. */
export const emulatorBackoff = (env: Record<string, string | undefined>): Backoff =>
  env.QSTASH_EMULATOR_BACKOFF === "fast" ? "fast" : "qstash";

const secret = () => randomBytes(24).toString("base64url");
const isLoopback = (url: string) => ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const env = { ...options.env };
  // Start listening first: the emulator and SITE_URL need the port.
  let handler: (request: Request) => Response | Promise<Response> = () => new Response("starting", { status: 503 });
  const server = createServer(getRequestListener((request) => handler(request)));
  // Idle sockets outlive every client's keep-alive (undici: 4 s): on a busy machine a client's late timer
  // would otherwise reuse a socket this server just closed, and its request would fail with ECONNRESET.
  server.keepAliveTimeout = 60_000;
  const url = `http://127.0.0.1:${await listenOnFreePort(server, options.port ?? 0)}`;
  env.SITE_URL ??= url;
  // Forwarded notifications call enqueue: every change rings its lane, and the drain is the safety net.
  if (options.forwardNotifications) env.CHANGES_VIA ??= "enqueue";

  let emulator: RunningEmulator | undefined;
  // The emulator stands in unless a real QStash is named: a token with no URL, or a URL elsewhere.
  // A given token, signing keys and local URL are the emulator's, so it can be driven by hand; a local
  // URL where something already listens (another stack's emulator) is used as it is.
  if (!env.QSTASH_TOKEN || (env.QSTASH_URL && isLoopback(env.QSTASH_URL))) {
    const keys = {
      token: env.QSTASH_TOKEN ?? secret(),
      currentSigningKey: env.QSTASH_CURRENT_SIGNING_KEY ?? `sig_${secret()}`,
      nextSigningKey: env.QSTASH_NEXT_SIGNING_KEY ?? `sig_${secret()}`,
    };
    const port = options.emulatorPort ?? (env.QSTASH_URL ? Number(new URL(env.QSTASH_URL).port) || undefined : undefined);
    // The Free plan's limits unless QSTASH_PLAN names another, so the local stack runs as a Free account would.
    const plan = isPlanName(env.QSTASH_PLAN) ? env.QSTASH_PLAN : "free";
    emulator = await startEmulator({ ...keys, plan, port, backoff: emulatorBackoff(env), ...options.emulator }).catch((error) => {
      if ((error as NodeJS.ErrnoException).code === "EADDRINUSE" && env.QSTASH_TOKEN) return undefined;
      throw error;
    });
  }
  if (emulator) {
    Object.assign(env, {
      QSTASH_TOKEN: emulator.emulator.options.token,
      QSTASH_URL: emulator.url,
      QSTASH_CURRENT_SIGNING_KEY: emulator.emulator.options.currentSigningKey,
      QSTASH_NEXT_SIGNING_KEY: emulator.emulator.options.nextSigningKey,
    });
  }
  // Local secrets nobody has to set: the local stack calls its own enqueue with them.
  env.WEBHOOK_SECRET ??= secret();
  env.ADMIN_TOKEN ??= secret();
  env.SEARCH_TOKEN ??= secret();
  const config = loadConfig(env);
  const deps: Deps = {
    db: options.connection.db,
    config,
    registry: createRegistry(),
    embedder: options.embedder ?? createEmbedder(config),
    shadowEmbedder: options.embedder ? undefined : createShadowEmbedder(config),
    publisher: qstashPublisher(config),
  };
  // After a model switch (npm run model), the serving set is the one switched to: its embedder is checked.
  const serving = await readSets(deps.db)
    .then((sets) => servingEmbedder(deps, sets))
    .catch(async (error) => {
      await emulator?.close();
      server.close();
      throw error;
    });
  await checkVectorColumn(deps.db, serving.dimensions).catch(async (error) => {
    await emulator?.close();
    server.close();
    throw error;
  });
  await refuseUnaskedSwitch(deps.db, config, serving).catch(async (error) => {
    await emulator?.close();
    server.close();
    throw error;
  });
  // A switch of embedder is handled now, not at the next maintenance run.
  const reembedding = await queueOtherModels(deps.db, serving);
  const app = createAllFunctions(deps);
  handler = (request) => app.fetch(request);

  if (emulator) for (const q of QUEUES) emulator.emulator.upsertQueue(q.queueName, q.parallelism, false);
  const schedules = options.schedules ? (await syncSchedules(config, schedulesFrom(env))).schedules : [];

  const stopForwarding: (() => unknown)[] = [];
  if (options.forwardNotifications) {
    // As a database webhook would, each captured change is posted to enqueue; the changes one statement
    // announces together go in one request (up to enqueue's 1,000 items), so they ring one doorbell.
    const waiting: unknown[] = [];
    const post = (items: unknown[]) =>
      fetch(endpointUrl(url, "enqueue"), {
        method: "POST",
        body: JSON.stringify(items),
        headers: { "content-type": "application/json", authorization: `Bearer ${config.webhookSecret}` },
      }).catch((error) => console.warn("[local] forwarding changes failed; the drain will take them:", error.message));
    const flush = () => {
      while (waiting.length) void post(waiting.splice(0, MAX_ITEMS));
    };
    // Anyone may NOTIFY the channel: a payload that is not a change is dropped, so it neither throws
    // in the database's listener nor makes enqueue refuse the batch of real changes it would join.
    const forward = (payload: string) => {
      const item = parsedChange(payload);
      if (!item) return console.warn("[local] ignored a notification that is not a change (the drain takes real ones anyway)");
      if (waiting.push(item) === 1) setTimeout(flush, 0);
    };
    stopForwarding.push(await options.connection.listen(NOTIFY_CHANNEL, forward));
  }

  return {
    url,
    deps,
    config,
    emulator,
    reembedding,
    schedules,
    async close() {
      for (const stop of stopForwarding) await stop();
      await emulator?.close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

/** A captured change's notification as enqueue takes it, or undefined when it is not one. */
function parsedChange(payload: string): unknown {
  try {
    const parsed = v.safeParse(DirectItemSchema, JSON.parse(payload));
    return parsed.success ? parsed.output : undefined;
  } catch {
    return undefined;
  }
}
