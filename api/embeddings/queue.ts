// status on Vercel's edge runtime (functions/endpoints.ts).
import { fetchHandler } from "../../functions/edge.js";
import { statusRouter } from "../../functions/status.js";

export const config = { runtime: "edge" };
export default fetchHandler(statusRouter, process.env);
