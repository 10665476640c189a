export * from "./pipeline-tables";
export * from "./source-tables";
