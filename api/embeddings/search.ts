import { edgeHandler } from "../../functions/edge";
import { createSearchApp } from "../../functions/search";

export const config = { runtime: "edge" };
export default edgeHandler(createSearchApp, process.env);
