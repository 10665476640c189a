// search as a Netlify Edge Function (functions/endpoints.ts).
import { netlifyHandler } from "../../functions/edge.js";
import { searchRouter } from "../../functions/search.js";

export default netlifyHandler(searchRouter);
export const config = { path: "/api/embeddings/search" };
