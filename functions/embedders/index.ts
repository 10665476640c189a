import type { Config } from "../config.js";
import type { Embedder } from "./embedder.js";
import { localEmbedder } from "./local.js";
import { openaiEmbedder } from "./openai.js";

export type { Embedder } from "./embedder.js";

/** OpenAI (or a compatible server) when OPENAI_API_KEY is set, the local lexical embedder otherwise. */
/** The shadow's embedder (config.shadow), on the same provider; undefined when no shadow is configured. */
export function createShadowEmbedder(config: Config): Embedder | undefined {
  const { shadow } = config;
  if (!shadow || (shadow.model === config.model && shadow.dimensions === config.dimensions)) return undefined;
  return createEmbedder({ ...config, ...shadow });
}

export function createEmbedder(config: Config): Embedder {
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
