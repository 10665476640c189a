// Vercel's Node.js runtime (maxDuration in vercel.json): it requeues every failed row at once, which grows
// with the failures, past the 25 s within which an edge function must begin its answer.

import { fetchHandler } from "../../functions/edge.js";
import { createRetryFailedApp } from "../../functions/retry-failed.js";

export default { fetch: fetchHandler(createRetryFailedApp, process.env) };
