// Builds a function from the environment for any Web-standard runtime: fetch-based clients, and the
// database a function of that runtime can reach (edge: Neon's driver over WebSocket; the Node.js
// functions hand in node-postgres for any other host, functions-node/). Parsing the configuration once
// per isolate makes a bad variable fail loudly, by name. Vercel's entries (api/) hand it process.env;
// Netlify's (netlify/functions/, netlify/edge-functions/) its Netlify global.
import { createRegistry } from "../schema/registry.js";
import { type Config, loadConfig } from "./config.js";
import { databaseHost, isNeonHost } from "./db/connection-error.js";
import { neonDatabase, type OpenedDatabase } from "./db/neon.js";
import { createEmbedder, createShadowEmbedder } from "./embedders/index.js";
import { createApp, type RouterFactory } from "./http/create-app.js";
import { qstashPublisher } from "./qstash/publisher.js";

export const MISSING_EMBEDDER =
  "OPENAI_API_KEY is not set: set it for semantic search, or set EMBEDDER=local to serve the local lexical (not semantic) embedder on purpose";

/** Opens the database for one request, or says why this runtime cannot reach it (a 500 naming the fix). */
export type DatabaseOpener = (url: string, config: Config) => OpenedDatabase | { refused: string };

/**
 * The edge's choice: Neon's driver for a Neon host, or for any host behind DATABASE_WS_PROXY. Any other
 * host has no WebSocket endpoint (the driver would dial wss://<host>/v2 and fail every request), so
 * the function refuses, by name, instead of answering 503 for ever.
 */
export const edgeDatabase: DatabaseOpener = (url, config) => {
  if (isNeonHost(url) || config.databaseWsProxy) return neonDatabase(url, { wsProxy: config.databaseWsProxy });
  return {
    refused:
      `DATABASE_URL's host ${databaseHost(url)} is not Neon, and an edge function reaches Postgres only over a WebSocket: ` +
      'set DATABASE_WS_PROXY to a WebSocket proxy in front of it, or serve this function from Node.js (README "Any Postgres")',
  };
};

/**
 * A Request → Response handler: the shared app with this one router; the database pool lives for one
 * request, as edge runtimes require. `openDatabase`: the runtime's choice of driver (edge by default).
 */
export function fetchHandler(router: RouterFactory, env: Record<string, string | undefined>, openDatabase: DatabaseOpener = edgeDatabase) {
  const config = loadConfig(env);
  const shared = {
    config,
    registry: createRegistry(),
    embedder: createEmbedder(config),
    shadowEmbedder: createShadowEmbedder(config),
    publisher: qstashPublisher(config),
  };
  return async (request: Request): Promise<Response> => {
    // A deploy that forgot its key would serve lexical search silently: it says so instead.
    if (config.provider === "local" && !config.embedderChosen) {
      return Response.json({ error: MISSING_EMBEDDER }, { status: 500 });
    }
    if (!config.databaseUrl) {
      return Response.json({ error: "DATABASE_URL is not set: the functions need a Postgres database" }, { status: 500 });
    }
    const opened = openDatabase(config.databaseUrl, config);
    if ("refused" in opened) return Response.json({ error: opened.refused }, { status: 500 });
    const { db, close } = opened;
    try {
      return await createApp(router({ ...shared, db })).fetch(request);
    } finally {
      await close();
    }
  };
}

/** Netlify's edge runtime (Deno) has no process.env; its Functions have both: the Netlify global serves each. */
declare const Netlify: { env: { toObject(): Record<string, string> } };

export function netlifyHandler(router: RouterFactory) {
  let handler: ((request: Request) => Promise<Response>) | undefined;
  return (request: Request) => {
    handler ??= fetchHandler(router, Netlify.env.toObject());
    return handler(request);
  };
}
