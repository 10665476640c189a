import { defineConfig } from "vitest/config";
import { shared } from "./vitest.config";

// `npm run test:e2e`: what must run a process of its own or start from nothing — `npm start`, the
// scripts' exit codes and Ctrl-C, one owner per data folder, Chromium, workerd's CPU, migrations from
// scratch — and the full set of hostile payloads (250 an endpoint; `npm test` sends a sample).
export default defineConfig({
  test: {
    ...shared,
    // Processes and file-backed databases from nothing: minutes each on a busy 2-core machine. A bound
    // here only fails a test that would hang (no test times the code).
    testTimeout: 300_000,
    hookTimeout: 300_000,
    include: ["tests/e2e/**/*.test.ts", "tests/hostile-input.test.ts"],
    env: { HOSTILE_COUNT: "250" },
  },
});
