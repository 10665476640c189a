import { defineConfig } from "vitest/config";

// `npm test`: unit and integration tests, in process (scripts export their `main`). What must run a
// process of its own (npm start, a script's Ctrl-C, Chromium, workerd's CPU) or migrate from scratch is
// in tests/e2e/, run by `npm run test:e2e` (vitest.e2e.config.ts); the platforms' builds by
// `npm run test:deploy`. CI runs all three.
export const shared = {
  globalSetup: ["tests/support/global-setup.ts"],
  // Vitest's default is one worker fewer than the cores: one, here. Most files spend their time
  // waiting (HTTP, child processes, QStash's backoff), so more overlap that waiting on a 2-core machine.
  maxWorkers: 3,
  testTimeout: 120_000,
  hookTimeout: 180_000,
};

export default defineConfig({
  test: {
    ...shared,
    include: ["tests/**/*.test.ts"],
    exclude: ["tests/deploy/**", "tests/e2e/**", "**/node_modules/**"],
  },
});
