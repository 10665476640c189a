import type { Embedder } from "./embedder.js";
import { localEmbedder } from "./local.js";
import { openaiEmbedder } from "./openai.js";

export type { Embedder } from "./embedder.js";

/** What choosing an embedder takes: a part of the configuration (functions/config.ts), which embedders sit below. */
export type EmbedderSettings = {
  provider: "openai" | "local";
  model: string;
  dimensions: number;
  openai: { apiKey?: string; baseUrl?: string; tokensPerMinute?: number; encoding?: "float" | "base64" };
};

/** OpenAI (or a compatible server) when OPENAI_API_KEY is set, the local lexical embedder otherwise. */
/** The shadow's embedder (settings.shadow), on the same provider; undefined when no shadow is configured. */
export function createShadowEmbedder(config: EmbedderSettings & { shadow?: { model: string; dimensions: number } }): Embedder | undefined {
  const { shadow } = config;
  if (!shadow || (shadow.model === config.model && shadow.dimensions === config.dimensions)) return undefined;
  return createEmbedder({ ...config, ...shadow });
}

export function createEmbedder(config: EmbedderSettings): Embedder {
  if (config.provider === "local") return localEmbedder(config.dimensions, config.model);
  return openaiEmbedder({
    apiKey: config.openai.apiKey!,
    baseURL: config.openai.baseUrl,
    model: config.model,
    dimensions: config.dimensions,
    tokensPerMinute: config.openai.tokensPerMinute,
    encoding: config.openai.encoding,
  });
}
