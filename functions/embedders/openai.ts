// Embeddings from OpenAI or any OpenAI-compatible server (Ollama, vLLM, …) through the official SDK.
// Transient failures (408/409/429/5xx, timeouts, lost connections) are retried within the run's budget.

import OpenAI from "openai";
import type { Meter } from "../embedders/embedder.js";
import { decodeFloat32Base64 } from "../lib/base64.js";
import { type Budget, type Clock, systemClock } from "../lib/budget.js";
import { errorMessage, OutOfTimeError, PermanentError, redact, TransientError, withoutQuotedValues } from "../lib/errors.js";
import { shownUrl } from "../lib/shown-url.js";
import { type BatchLimits, type Embedder, estimateTokens, mapLimited, OPENAI_LIMITS, packRequests } from "./embedder.js";
import { TokenRateLimiter } from "./rate-limiter.js";
import { backoffMs, MAX_RETRY_AFTER_MS, MIN_ATTEMPT_MS, retryAfterMs } from "./retry.js";

export type OpenAIEmbedderOptions = {
  apiKey: string;
  baseURL?: string;
  model: string;
  dimensions: number;
  limits?: BatchLimits;
  /** Requests in flight at once. */
  concurrency?: number;
  /** Tries after the first, for transient failures, as long as the run's budget allows. */
  maxRetries?: number;
  /** One request's timeout, cut to the run's budget. */
  timeoutMs?: number;
  /** What retries wait on; tests hand in a fake one. */
  clock?: Clock;
  /** The account's tokens-per-minute limit, if known; otherwise learnt from the answers' headers. */
  tokensPerMinute?: number;
  /**
   * How vectors travel (config.ts `encodingFor` says why): "float" asks for JSON numbers, which every
   * compatible server sends; "base64" asks for float32s as base64 text, decoded here (lib/base64.ts).
   */
  encoding?: "float" | "base64";
};

/**
 * An answer's vector. Asked explicitly, base64 comes back as text (the SDK decodes only what it asked
 * for itself); a server that ignored the field (Ollama) answered floats, which are the vector as they
 * are. Anything else is a malformed answer, retried as one.
 */
function vectorOf(embedding: unknown): number[] {
  try {
    if (typeof embedding === "string") return decodeFloat32Base64(embedding);
    if (Array.isArray(embedding) && embedding.every((x) => typeof x === "number")) return embedding;
    throw new Error(`a vector is ${embedding === null ? "null" : typeof embedding}, not numbers or base64`);
  } catch (error) {
    throw new TransientError(`embedding API returned a malformed vector: ${errorMessage(error)}`);
  }
}

/** Only the text-embedding-3 family accepts `dimensions`; other servers may reject it. */
export const acceptsDimensions = (model: string) => /^text-embedding-3/.test(model);

/** An embeddings request's body, live or as a Batch API line (batch-api.ts). */
export function embeddingsBody<T extends string | string[]>(
  model: { model: string; dimensions: number },
  input: T,
  encoding: "float" | "base64",
) {
  return {
    model: model.model,
    input,
    ...(acceptsDimensions(model.model) ? { dimensions: model.dimensions } : {}),
    encoding_format: encoding,
  };
}

export function openaiEmbedder(options: OpenAIEmbedderOptions): Embedder {
  // Retries are ours (retry.ts says why); the timeout is set per attempt.
  const client = new OpenAI({ apiKey: options.apiKey, baseURL: options.baseURL, maxRetries: 0 });
  const limits = options.limits ?? OPENAI_LIMITS;
  const encoding = options.encoding ?? "float";
  const maxRetries = options.maxRetries ?? 4;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const clock = options.clock ?? systemClock;
  const limiter = new TokenRateLimiter(options.tokensPerMinute);

  /** One request, its timeout cut to `budget`; throws classified, redacted errors. */
  async function attempt(input: string[], budget: Budget | undefined) {
    let timeout = timeoutMs;
    try {
      const tokens = input.reduce((sum, text) => sum + estimateTokens(text), 0);
      await limiter.acquire(tokens, budget ? budget.left() - MIN_ATTEMPT_MS : Infinity);
      timeout = Math.min(timeoutMs, budget?.left() ?? Infinity);
      if (timeout < MIN_ATTEMPT_MS) throw new OutOfTimeError("no time left in this run for an embedding request");
      const answer = await client.embeddings
        .create(embeddingsBody(options, input, encoding), { timeout: Math.ceil(timeout) })
        .withResponse();
      limiter.observe(answer.response.headers);
      return answer.data;
    } catch (error) {
      if (error instanceof OutOfTimeError) throw error;
      if (error instanceof OpenAI.APIConnectionTimeoutError && timeout < timeoutMs) {
        throw new OutOfTimeError(`the embedding request was cut off at the end of this run's budget (${Math.round(timeout)} ms)`);
      }
      const classified = classify(error);
      // vLLM's refusal has no `error` field, so the SDK's message says only "400 status code".
      if (encoding === "base64" && error instanceof OpenAI.BadRequestError) {
        classified.message += " (a server that does not take base64 answers so: set EMBEDDING_ENCODING=float)";
      }
      classified.message = redact(classified.message, [options.apiKey]);
      if (classified instanceof TransientError && error instanceof OpenAI.APIError) {
        classified.retryAfterMs = retryAfterMs(error.headers, clock.now());
      }
      throw classified;
    } finally {
      limiter.settled();
    }
  }

  /** Retries transient failures while the budget holds another attempt and the server's wait is sane. */
  async function attemptWithRetries(input: string[], budget: Budget | undefined) {
    for (let retry = 0; ; retry++) {
      try {
        return await attempt(input, budget);
      } catch (error) {
        if (!(error instanceof TransientError) || error instanceof OutOfTimeError || retry >= maxRetries) throw error;
        if ((error.retryAfterMs ?? 0) > MAX_RETRY_AFTER_MS) {
          error.message += `; asked to wait ${Math.round(error.retryAfterMs! / 1000)} s, longer than a run waits`;
          throw error;
        }
        const wait = error.retryAfterMs ?? backoffMs(retry);
        // No time to try again in this run: the work goes back in line after the wait a retry would have had.
        if (budget && budget.left() < wait + MIN_ATTEMPT_MS) {
          throw new OutOfTimeError(`${error.message}; no time left in this run to try again`, wait);
        }
        await clock.sleep(wait);
      }
    }
  }

  async function request(input: string[], budget: Budget | undefined, meter: Meter | undefined): Promise<number[][]> {
    // Reserved before the request is sent (refused: nothing is sent), settled with the API's own count.
    const ticket = await meter?.reserve(input.reduce((sum, text) => sum + estimateTokens(text), 0));
    let response: Awaited<ReturnType<typeof attemptWithRetries>>;
    try {
      response = await attemptWithRetries(input, budget);
    } catch (error) {
      await ticket?.release();
      throw error;
    }
    // A compatible server that reports no usage is booked at the estimate (deliberately high).
    const tokens = response.usage?.prompt_tokens ?? input.reduce((sum, text) => sum + estimateTokens(text), 0);
    await ticket?.settle({ tokens, inputs: input.length });
    const vectors = [...response.data].sort((a, b) => a.index - b.index).map((d) => vectorOf(d.embedding));
    if (vectors.length !== input.length) {
      throw new TransientError(`embedding API returned ${vectors.length} vectors for ${input.length} inputs`);
    }
    const wrong = vectors.find((vector) => vector.length !== options.dimensions);
    if (wrong) {
      const hint =
        ` (the cause is the server${options.baseURL ? ` at ${shownUrl(options.baseURL)}` : ""}: its model ${options.model} makes ` +
        `${wrong.length}-dimensional vectors; choose one of ${options.dimensions}, or change the vector column and ` +
        `EMBEDDING_DIMENSIONS together: README "Changing model or dimensions")`;
      throw new PermanentError(
        `model ${options.model} returned ${wrong.length} dimensions, EMBEDDING_DIMENSIONS is ${options.dimensions}${hint}`,
      );
    }
    return vectors;
  }

  return {
    model: options.model,
    dimensions: options.dimensions,
    async embed(texts, budget, meter) {
      const requests = packRequests(texts, limits);
      const parts = await mapLimited(requests, options.concurrency ?? 4, (r) => request(texts.slice(r.start, r.end), budget, meter));
      return parts.flat();
    },
  };
}

/** Tells errors a retry can fix from those it cannot. */
export function classify(error: unknown): Error {
  if (error instanceof OpenAI.APIConnectionError) return new TransientError(`embedding API unreachable: ${error.message}`);
  if (error instanceof OpenAI.APIError) {
    const status = error.status ?? 0;
    // Some compatible servers echo the input they refused: the row's text must not reach last_error.
    const message = `embedding API answered ${status || "an error"}: ${withoutQuotedValues(error.message).slice(0, 300)}`;
    return status === 408 || status === 409 || status === 429 || status >= 500 || status === 0
      ? new TransientError(message)
      : new PermanentError(message);
  }
  return new TransientError(`embedding request failed: ${error instanceof Error ? error.message : String(error)}`);
}
