export * from "./pipeline-tables.js";
export * from "./source-tables.js";
