// A Netlify Function (synchronous: 60 s), not an Edge Function: decoding and writing a delivery's vectors
// can take more than the 50 ms of CPU an Edge Function gets per request.

import { fetchHandler } from "../../functions/edge.js";
import { createProcessWebhookApp } from "../../functions/process-webhook.js";

export default fetchHandler(createProcessWebhookApp, process.env);
export const config = { path: ["/api/embeddings/process-webhook", "/api/embeddings/process-webhook/failed"] };
