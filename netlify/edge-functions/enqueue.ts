import { netlifyHandler } from "../../functions/edge.js";
import { createEnqueueApp } from "../../functions/enqueue.js";

export default netlifyHandler(createEnqueueApp);
export const config = { path: "/api/embeddings/enqueue" };
