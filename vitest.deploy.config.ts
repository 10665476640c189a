import { defineConfig } from "vitest/config";

// `npm run test:deploy`: what a deploy would build, checked without deploying — `vercel build` and
// `netlify build --offline` in temporary copies of the repository, every built function then called on
// its platform's runtime (Node.js 22, Deno). About two minutes of CPU once the tools are cached
// (tests/deploy/support/deploy-tools.ts: the first run installs them from npm). Apart from `npm test` so
// that the suite stays quick on a developer's machine; CI runs both.
export default defineConfig({
  test: {
    include: ["tests/deploy/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 900_000,
  },
});
