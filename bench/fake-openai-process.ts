// The fake OpenAI server in a process of its own, as the real API is on machines of its own: its work
// (computing the vectors, about 1 ms a text) is not charged to the process that drains.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { FakeOpenAI } from "../testing/fake-openai";

export type RemoteFakeOpenAI = { url: string; requests(): Promise<FakeOpenAI["requests"]>; reset(): Promise<void>; close(): Promise<void> };

const child = fileURLToPath(new URL("./fake-openai-child.ts", import.meta.url));

export async function startFakeOpenAIProcess(latencyMs: number): Promise<RemoteFakeOpenAI> {
  const process = fork(child, [String(latencyMs)], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  let failed: ((error: Error) => void) | undefined;
  process.on("exit", (code) => failed?.(new Error(`the fake OpenAI process exited (${code})`)));
  const next = <T>() =>
    new Promise<T>((resolve, reject) => {
      failed = reject;
      process.once("message", (message) => resolve(message as T));
    });
  const { url } = await next<{ url: string }>();
  const ask = <T>(command: string) => {
    const answer = next<T>();
    process.send(command);
    return answer;
  };
  return {
    url,
    requests: () => ask("requests"),
    reset: () => ask("reset"),
    close: async () => {
      failed = undefined;
      process.disconnect();
    },
  };
}
