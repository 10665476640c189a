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

/**
 * Files that change what the whole process sees, and so get a worker of their own: the platforms'
 * entries (api/, netlify/) read process.env once as they load, and these files set it, or set
 * globals (Netlify's, WebSocket, Buffer) and neonConfig, or a script's exit code.
 */
export const ISOLATED = [
  "tests/any-postgres.test.ts",
  "tests/config.test.ts",
  "tests/doctor.test.ts",
  "tests/endpoints.test.ts",
  "tests/platform-limits.test.ts",
  "tests/store-embeddings.test.ts",
  "tests/units.test.ts",
  "tests/wire-drivers.test.ts",
];

const EXCLUDE = ["tests/deploy/**", "tests/e2e/**", "**/node_modules/**"];

const { globalSetup, ...options } = shared;

export default defineConfig({
  test: {
    // Each project runs the global setup (it migrates once for both); the root, which runs no file, does not.
    ...options,
    projects: [
      // The rest share a worker's modules (drizzle, PGlite, the functions) instead of importing them
      // again for every file: a third of the suite's time. The guard fails a file that leaks.
      {
        extends: true,
        test: {
          name: "shared",
          globalSetup,
          include: ["tests/**/*.test.ts"],
          exclude: [...EXCLUDE, ...ISOLATED],
          isolate: false,
          setupFiles: ["tests/support/shared-worker-guard.ts"],
        },
      },
      { extends: true, test: { name: "isolated", globalSetup, include: ISOLATED, exclude: EXCLUDE } },
    ],
  },
});
