// enqueue as a Netlify Edge Function (functions/endpoints.ts).
import { netlifyHandler } from "../../functions/edge.js";
import { enqueueRouter } from "../../functions/enqueue.js";

export default netlifyHandler(enqueueRouter);
export const config = { path: "/api/embeddings/enqueue" };
