// What the Node.js entries (api/embeddings/ on Node.js, netlify/functions/) serve: the shared handler
// with the Node.js choice of database driver (./database.ts), which may use TCP.
import { fetchHandler as sharedFetchHandler } from "../functions/edge.js";
import type { RouterFactory } from "../functions/http/create-app.js";
import { nodeDatabase } from "./database.js";

export const fetchHandler = (router: RouterFactory, env: Record<string, string | undefined>) =>
  sharedFetchHandler(router, env, nodeDatabase);
