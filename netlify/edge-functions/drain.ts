import { netlifyHandler } from "../../functions/edge";
import { createDrainApp } from "../../functions/drain";

export default netlifyHandler(createDrainApp);
export const config = { path: "/api/embeddings/drain" };
