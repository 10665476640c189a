// The shared project's files share a worker and its module cache (vitest.config.ts), so one file must
// leave the process as it found it. This fails the file that changed the environment or a global the
// code reads, naming what it changed (never a value: some are secrets), instead of letting a later
// file fail for it, in whichever order the files happened to run.
import { neonConfig } from "@neondatabase/serverless";
import { afterAll } from "vitest";

const GLOBALS = ["Netlify", "WebSocket", "Buffer", "fetch"] as const;
const NEON = ["wsProxy", "webSocketConstructor", "useSecureWebSocket", "pipelineConnect", "fetchEndpoint"] as const;

const env = { ...process.env };
const globals = GLOBALS.map((name) => (globalThis as Record<string, unknown>)[name]);
const neon = NEON.map((name) => neonConfig[name]);

afterAll(() => {
  const keys = new Set([...Object.keys(env), ...Object.keys(process.env)]);
  const changed = [
    ...[...keys].filter((key) => env[key] !== process.env[key]).map((key) => `process.env.${key}`),
    ...GLOBALS.filter((name, i) => (globalThis as Record<string, unknown>)[name] !== globals[i]).map((name) => `globalThis.${name}`),
    ...NEON.filter((name, i) => neonConfig[name] !== neon[i]).map((name) => `neonConfig.${name}`),
  ];
  if (changed.length > 0) {
    throw new Error(
      `this file changed ${changed.join(", ")} and left it changed: restore it, or list the file in vitest.config.ts's ISOLATED`,
    );
  }
});
