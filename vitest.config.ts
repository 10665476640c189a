import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["tests/support/global-setup.ts"],
    include: ["tests/**/*.test.ts"],
    // `npm run test:deploy` (vitest.deploy.config.ts): the platforms' own builds, apart.
    exclude: ["tests/deploy/**", "**/node_modules/**"],
    // Vitest's default is one worker fewer than the cores: one, here. Most files spend their time
    // waiting (HTTP, child processes, QStash's backoff), so two overlap that waiting on a 2-core machine.
    maxWorkers: 3,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
