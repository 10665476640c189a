// drain on Vercel's Node.js runtime, with vercel.json's maxDuration (functions/endpoints.ts).

import { drainRouter } from "../../functions/drain.js";
import { fetchHandler } from "../../functions-node/fetch-handler.js";

export default { fetch: fetchHandler(drainRouter, process.env) };
