// Runs a built edge function's module in Deno (support/call-edge-function.mjs) and returns its answers.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { DeployTools } from "./deploy-tools";

export type EdgeRequest = { url: string; method?: string; headers?: Record<string, string>; body?: string };
export type EdgeAnswer = { status: number; body: string };

/** `relay`: a WebSocket URL that stands in for the database host's `wss://…/v2` (Neon's proxy). */
export async function callInDeno(
  tools: DeployTools,
  module: string,
  requests: EdgeRequest[],
  env: Record<string, string>,
  relay?: string,
): Promise<EdgeAnswer[]> {
  const { stdout } = await promisify(execFile)(
    tools.deno,
    [
      "run",
      "--quiet",
      "--allow-env",
      "--allow-net",
      "--allow-read",
      `${import.meta.dirname}/call-edge-function.mjs`,
      module,
      JSON.stringify(requests),
    ],
    // Only the function's own environment: nothing of the test's leaks in.
    {
      env: { PATH: process.env.PATH, NO_COLOR: "1", DENO_DIR: `${tools.dir}/deno-dir`, ...(relay ? { RELAY: relay } : {}), ...env },
      timeout: 60_000,
    },
  );
  return stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as EdgeAnswer);
}
