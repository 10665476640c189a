// enqueue on Vercel's edge runtime (functions/endpoints.ts).
import { fetchHandler } from "../../functions/edge.js";
import { enqueueRouter } from "../../functions/enqueue.js";

export const config = { runtime: "edge" };
export default fetchHandler(enqueueRouter, process.env);
