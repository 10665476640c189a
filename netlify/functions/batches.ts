// batches as a Netlify Function, synchronous: 60 s (functions/endpoints.ts).

import { batchesRouter } from "../../functions/batches.js";
import { fetchHandler } from "../../functions-node/fetch-handler.js";

export default fetchHandler(batchesRouter, process.env);
export const config = { path: "/api/embeddings/batches" };
