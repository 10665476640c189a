// Vercel's Node.js runtime (maxDuration in vercel.json): a delivery answers after its embedding, which may
// take longer than the 25 s within which an edge function must begin its answer.

import { fetchHandler } from "../../functions/edge.js";
import { createProcessWebhookApp } from "../../functions/process-webhook.js";

export default { fetch: fetchHandler(createProcessWebhookApp, process.env) };
