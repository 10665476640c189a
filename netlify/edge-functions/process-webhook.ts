import { netlifyHandler } from "../../functions/edge";
import { createProcessWebhookApp } from "../../functions/process-webhook";

export default netlifyHandler(createProcessWebhookApp);
export const config = { path: ["/api/embeddings/process-webhook", "/api/embeddings/process-webhook/failed"] };
