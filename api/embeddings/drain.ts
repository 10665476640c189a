// Vercel's Node.js runtime (maxDuration in vercel.json): a drain answers after its batches, DRAIN_BUDGET_MS,
// and an edge function must begin its answer within 25 s.
import { createDrainApp } from "../../functions/drain.js";
import { fetchHandler } from "../../functions/edge.js";

export default { fetch: fetchHandler(createDrainApp, process.env) };
