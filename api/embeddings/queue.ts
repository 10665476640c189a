import { edgeHandler } from "../../functions/edge";
import { createStatusApp } from "../../functions/status";

export const config = { runtime: "edge" };
export default edgeHandler(createStatusApp, process.env);
