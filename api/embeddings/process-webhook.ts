import { edgeHandler } from "../../functions/edge";
import { createProcessWebhookApp } from "../../functions/process-webhook";

export const config = { runtime: "edge" };
export default edgeHandler(createProcessWebhookApp, process.env);
