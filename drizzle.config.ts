import { defineConfig } from "drizzle-kit";

// The pipeline's own tables. Only `drizzle-kit generate` is used: migrations are applied by
// `npm run db:migrate`, which loads pgvector into PGlite (drizzle-kit's own migrate opens PGlite without it).
// The platform's tables are the application's, not ours: see drizzle.sample.config.ts.
export default defineConfig({
  dialect: "postgresql",
  schema: "./schema/pipeline-tables.ts",
  out: "./drizzle",
});
