import { netlifyHandler } from "../../functions/edge";
import { createSearchApp } from "../../functions/search";

export default netlifyHandler(createSearchApp);
export const config = { path: "/api/embeddings/search" };
