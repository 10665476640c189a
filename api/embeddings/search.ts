// search on Vercel's edge runtime (functions/endpoints.ts).
import { fetchHandler } from "../../functions/edge.js";
import { searchRouter } from "../../functions/search.js";

export const config = { runtime: "edge" };
export default fetchHandler(searchRouter, process.env);
