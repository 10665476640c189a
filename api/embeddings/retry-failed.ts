// retry-failed on Vercel's Node.js runtime, with vercel.json's maxDuration (functions/endpoints.ts).
import { fetchHandler } from "../../functions-node/fetch-handler.js";
import { retryFailedRouter } from "../../functions/retry-failed.js";

export default { fetch: fetchHandler(retryFailedRouter, process.env) };
