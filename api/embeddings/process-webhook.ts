// process-webhook on Vercel's Node.js runtime, with vercel.json's maxDuration (functions/endpoints.ts).
import { fetchHandler } from "../../functions-node/fetch-handler.js";
import { processWebhookRouter } from "../../functions/process-webhook.js";

export default { fetch: fetchHandler(processWebhookRouter, process.env) };
