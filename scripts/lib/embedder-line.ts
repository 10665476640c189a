// Which embedder a command uses, as npm start and backfill --drain print it: never a credential that
// OPENAI_BASE_URL may carry (a user name, a password, a key in its query).
import type { Config } from "../../functions/config";
import { shownUrl } from "../../functions/lib/shown-url";

export const embedderLine = (config: Config) =>
  config.provider === "local"
    ? `local lexical embedder (${config.model}; offline; set OPENAI_API_KEY for semantic search)`
    : `${config.model} via ${shownUrl(config.openai.baseUrl) ?? "OpenAI"}`;
