// pauses as a Netlify Edge Function (functions/endpoints.ts).
import { netlifyHandler } from "../../functions/edge.js";
import { pausesRouter } from "../../functions/pauses.js";

export default netlifyHandler(pausesRouter);
export const config = { path: ["/api/embeddings/pause", "/api/embeddings/resume"] };
