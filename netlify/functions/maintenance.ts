// A Netlify Function (synchronous: 60 s), not an Edge Function: its deletes and ANALYZE grow with the
// tables, past the 40 s within which an Edge Function must send its headers.

import { fetchHandler } from "../../functions/edge.js";
import { createMaintenanceApp } from "../../functions/maintenance.js";

export default fetchHandler(createMaintenanceApp, process.env);
export const config = { path: "/api/embeddings/maintenance" };
