import { edgeHandler } from "../../functions/edge";
import { createRetryFailedApp } from "../../functions/retry-failed";

export const config = { runtime: "edge" };
export default edgeHandler(createRetryFailedApp, process.env);
