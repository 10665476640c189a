import { defineConfig } from "drizzle-kit";

// Only `drizzle-kit generate` is used: migrations are applied by `npm run db:migrate`, which loads
// pgvector into PGlite (drizzle-kit's own migrate opens PGlite without it).
export default defineConfig({
  dialect: "postgresql",
  schema: "./schema/index.ts",
  out: "./drizzle",
});
