// maintenance as a Netlify Function, synchronous: 60 s (functions/endpoints.ts).

import { maintenanceRouter } from "../../functions/maintenance.js";
import { fetchHandler } from "../../functions-node/fetch-handler.js";

export default fetchHandler(maintenanceRouter, process.env);
export const config = { path: "/api/embeddings/maintenance" };
