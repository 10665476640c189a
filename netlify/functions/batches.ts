// batches as a Netlify Function, synchronous: 60 s (functions/endpoints.ts).
import { fetchHandler } from "../../functions-node/fetch-handler.js";
import { batchesRouter } from "../../functions/batches.js";

export default fetchHandler(batchesRouter, process.env);
export const config = { path: "/api/embeddings/batches" };
