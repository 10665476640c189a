// Vercel's Node.js runtime (maxDuration in vercel.json): its deletes and ANALYZE grow with the tables,
// past the 25 s within which an edge function must begin its answer.

import { fetchHandler } from "../../functions/edge.js";
import { createMaintenanceApp } from "../../functions/maintenance.js";

export default { fetch: fetchHandler(createMaintenanceApp, process.env) };
