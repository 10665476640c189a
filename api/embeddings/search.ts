import { fetchHandler } from "../../functions/edge.js";
import { createSearchApp } from "../../functions/search.js";

export const config = { runtime: "edge" };
export default fetchHandler(createSearchApp, process.env);
