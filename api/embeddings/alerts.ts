// alerts on Vercel's Node.js runtime, with vercel.json's maxDuration (functions/endpoints.ts).

import { alertsRouter } from "../../functions/alerts.js";
import { fetchHandler } from "../../functions-node/fetch-handler.js";

export default { fetch: fetchHandler(alertsRouter, process.env) };
