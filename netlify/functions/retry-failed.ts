// retry-failed as a Netlify Function, synchronous: 60 s (functions/endpoints.ts).

import { retryFailedRouter } from "../../functions/retry-failed.js";
import { fetchHandler } from "../../functions-node/fetch-handler.js";

export default fetchHandler(retryFailedRouter, process.env);
export const config = { path: "/api/embeddings/retry-failed" };
