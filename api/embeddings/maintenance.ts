// maintenance on Vercel's Node.js runtime, with vercel.json's maxDuration (functions/endpoints.ts).

import { maintenanceRouter } from "../../functions/maintenance.js";
import { fetchHandler } from "../../functions-node/fetch-handler.js";

export default { fetch: fetchHandler(maintenanceRouter, process.env) };
