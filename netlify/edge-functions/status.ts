// status as a Netlify Edge Function (functions/endpoints.ts).
import { netlifyHandler } from "../../functions/edge.js";
import { statusRouter } from "../../functions/status.js";

export default netlifyHandler(statusRouter);
export const config = { path: ["/api/embeddings/queue", "/api/embeddings/processor", "/api/embeddings/status"] };
