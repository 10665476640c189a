import { netlifyHandler } from "../../functions/edge";
import { createEnqueueApp } from "../../functions/enqueue";

export default netlifyHandler(createEnqueueApp);
export const config = { path: "/api/embeddings/enqueue" };
