import { fetchHandler } from "../../functions/edge.js";
import { createStatusApp } from "../../functions/status.js";

export const config = { runtime: "edge" };
export default fetchHandler(createStatusApp, process.env);
