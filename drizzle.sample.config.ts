import { defineConfig } from "drizzle-kit";

// The education platform's tables, for the embedded database (local stack, demo, tests) and for a
// trial on an empty database (`npm run db:migrate -- --sample-tables`); a real application has its own.
export default defineConfig({
  dialect: "postgresql",
  schema: "./schema/source-tables.ts",
  out: "./drizzle/sample-tables",
});
