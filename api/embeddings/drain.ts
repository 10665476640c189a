import { edgeHandler } from "../../functions/edge";
import { createDrainApp } from "../../functions/drain";

export const config = { runtime: "edge" };
export default edgeHandler(createDrainApp, process.env);
