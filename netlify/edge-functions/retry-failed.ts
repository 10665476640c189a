import { netlifyHandler } from "../../functions/edge";
import { createRetryFailedApp } from "../../functions/retry-failed";

export default netlifyHandler(createRetryFailedApp);
export const config = { path: "/api/embeddings/retry-failed" };
