// Vercel's Node.js runtime, as process-webhook (one app serves both paths, as on Netlify).
import { fetchHandler } from "../../../functions/edge.js";
import { createProcessWebhookApp } from "../../../functions/process-webhook.js";

export default { fetch: fetchHandler(createProcessWebhookApp, process.env) };
