import { fetchHandler } from "../../functions/edge.js";
import { createEnqueueApp } from "../../functions/enqueue.js";

export const config = { runtime: "edge" };
export default fetchHandler(createEnqueueApp, process.env);
