// A Netlify Function (synchronous: 60 s), not an Edge Function: decoding and writing one batch's vectors
// alone takes more than the 50 ms of CPU an Edge Function gets per request.
import { createDrainApp } from "../../functions/drain.js";
import { fetchHandler } from "../../functions/edge.js";

export default fetchHandler(createDrainApp, process.env);
export const config = { path: "/api/embeddings/drain" };
