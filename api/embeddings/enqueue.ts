import { edgeHandler } from "../../functions/edge";
import { createEnqueueApp } from "../../functions/enqueue";

export const config = { runtime: "edge" };
export default edgeHandler(createEnqueueApp, process.env);
