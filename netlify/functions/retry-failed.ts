// A Netlify Function (synchronous: 60 s), not an Edge Function: it requeues every failed row at once,
// which grows with the failures, past the 40 s within which an Edge Function must send its headers.

import { fetchHandler } from "../../functions/edge.js";
import { createRetryFailedApp } from "../../functions/retry-failed.js";

export default fetchHandler(createRetryFailedApp, process.env);
export const config = { path: "/api/embeddings/retry-failed" };
