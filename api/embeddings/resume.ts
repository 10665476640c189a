// pauses on Vercel's edge runtime (functions/endpoints.ts).
import { fetchHandler } from "../../functions/edge.js";
import { pausesRouter } from "../../functions/pauses.js";

export const config = { runtime: "edge" };
export default fetchHandler(pausesRouter, process.env);
