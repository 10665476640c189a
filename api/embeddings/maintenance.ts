import { edgeHandler } from "../../functions/edge";
import { createMaintenanceApp } from "../../functions/maintenance";

export const config = { runtime: "edge" };
export default edgeHandler(createMaintenanceApp, process.env);
