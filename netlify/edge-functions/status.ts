import { netlifyHandler } from "../../functions/edge.js";
import { createStatusApp } from "../../functions/status.js";

export default netlifyHandler(createStatusApp);
export const config = { path: ["/api/embeddings/queue", "/api/embeddings/processor", "/api/embeddings/status"] };
