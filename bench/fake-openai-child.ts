// Runs testing/fake-openai.ts for bench/fake-openai-process.ts; answers its questions over IPC.
import { startFakeOpenAI } from "../testing/fake-openai";

const api = await startFakeOpenAI({ latencyMs: Number(process.argv[2] ?? 50) });
process.send!({ url: api.url });
process.on("message", (command) => {
  if (command === "requests") process.send!(api.requests);
  if (command === "reset") {
    api.requests.length = 0;
    process.send!(0);
  }
});
process.on("disconnect", () => void api.close().then(() => process.exit(0)));
