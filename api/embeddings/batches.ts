// batches on Vercel's Node.js runtime, with vercel.json's maxDuration (functions/endpoints.ts).

import { batchesRouter } from "../../functions/batches.js";
import { fetchHandler } from "../../functions-node/fetch-handler.js";

export default { fetch: fetchHandler(batchesRouter, process.env) };
