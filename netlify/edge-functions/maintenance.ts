import { netlifyHandler } from "../../functions/edge";
import { createMaintenanceApp } from "../../functions/maintenance";

export default netlifyHandler(createMaintenanceApp);
export const config = { path: "/api/embeddings/maintenance" };
