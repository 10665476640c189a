import { defineConfig } from "vitest/config";

// `npm run test:deploy`: what a deploy would build, checked without deploying — `vercel build` of every
// function (a minute or two of CPU on a fresh clone). Apart from `npm test` so that the suite stays
// quick on a developer's machine; CI runs both.
export default defineConfig({
  test: {
    include: ["tests/deploy/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 600_000,
  },
});
