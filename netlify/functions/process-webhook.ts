// process-webhook as a Netlify Function, synchronous: 60 s (functions/endpoints.ts).

import { processWebhookRouter } from "../../functions/process-webhook.js";
import { fetchHandler } from "../../functions-node/fetch-handler.js";

export default fetchHandler(processWebhookRouter, process.env);
export const config = { path: "/api/embeddings/process-webhook" };
