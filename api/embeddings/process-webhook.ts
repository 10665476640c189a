// process-webhook on Vercel's Node.js runtime, with vercel.json's maxDuration (functions/endpoints.ts).

import { processWebhookRouter } from "../../functions/process-webhook.js";
import { fetchHandler } from "../../functions-node/fetch-handler.js";

export default { fetch: fetchHandler(processWebhookRouter, process.env) };
