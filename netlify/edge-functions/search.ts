import { netlifyHandler } from "../../functions/edge.js";
import { createSearchApp } from "../../functions/search.js";

export default netlifyHandler(createSearchApp);
export const config = { path: "/api/embeddings/search" };
