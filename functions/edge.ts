// Builds a function from the environment for any Web-standard runtime, edge or Node.js: Neon over
// WebSocket, fetch-based clients. Parsing the configuration once per isolate makes a bad variable fail
// loudly, by name. Vercel's entries (api/) hand it process.env; Netlify's (netlify/functions/,
// netlify/edge-functions/) its Netlify global.
import { createRegistry } from "../schema/registry.js";
import { loadConfig } from "./config.js";
import { neonDatabase } from "./db/neon.js";
import { createEmbedder } from "./embedders/index.js";
import { createApp, type RouterFactory } from "./lib/create-app.js";
import { qstashPublisher } from "./qstash/publisher.js";

export const MISSING_EMBEDDER =
  "OPENAI_API_KEY is not set: set it for semantic search, or set EMBEDDER=local to serve the local lexical (not semantic) embedder on purpose";

/**
 * A Request → Response handler: the shared app with this one router; the database pool lives for one
 * request, as edge runtimes require.
 */
export function fetchHandler(router: RouterFactory, env: Record<string, string | undefined>) {
  const config = loadConfig(env);
  const shared = { config, registry: createRegistry(), embedder: createEmbedder(config), publisher: qstashPublisher(config) };
  return async (request: Request): Promise<Response> => {
    // A deploy that forgot its key would serve lexical search silently: it says so instead.
    if (config.provider === "local" && !config.embedderChosen) {
      return Response.json({ error: MISSING_EMBEDDER }, { status: 500 });
    }
    if (!config.databaseUrl) {
      return Response.json({ error: "DATABASE_URL is not set: the functions need a Postgres (Neon) database" }, { status: 500 });
    }
    const { db, close } = neonDatabase(config.databaseUrl);
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
