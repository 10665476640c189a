import { netlifyHandler } from "../../functions/edge";
import { createStatusApp } from "../../functions/status";

export default netlifyHandler(createStatusApp);
export const config = { path: ["/api/embeddings/queue", "/api/embeddings/processor", "/api/embeddings/status"] };
