// alerts as a Netlify Function, synchronous: 60 s (functions/endpoints.ts).

import { alertsRouter } from "../../functions/alerts.js";
import { fetchHandler } from "../../functions-node/fetch-handler.js";

export default fetchHandler(alertsRouter, process.env);
export const config = { path: "/api/embeddings/alerts" };
