// drain as a Netlify Function, synchronous: 60 s (functions/endpoints.ts).

import { drainRouter } from "../../functions/drain.js";
import { fetchHandler } from "../../functions-node/fetch-handler.js";

export default fetchHandler(drainRouter, process.env);
export const config = { path: "/api/embeddings/drain" };
