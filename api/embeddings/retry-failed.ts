// retry-failed on Vercel's Node.js runtime, with vercel.json's maxDuration (functions/endpoints.ts).

import { retryFailedRouter } from "../../functions/retry-failed.js";
import { fetchHandler } from "../../functions-node/fetch-handler.js";

export default { fetch: fetchHandler(retryFailedRouter, process.env) };
