// npm start asks the embedding API for one vector before it serves: a model that answers another size
// than the column (768 against vector(1536)) would otherwise fail every item of the next drain and
// every search. An API that cannot be reached now is only warned about: the queue waits for it.
import type { Embedder } from "../../functions/embedders/embedder";
import { ConfigError, errorMessage, PermanentError } from "../../functions/lib/errors";

/** Throws a ConfigError when the embedder answers vectors of another size, or refuses for good. */
export async function checkEmbedderAnswers(embedder: Embedder): Promise<void> {
  let vector: number[] | undefined;
  try {
    [vector] = await embedder.embed(["vector size check"]);
  } catch (error) {
    if (error instanceof PermanentError) throw new ConfigError(`The embedding API cannot serve ${embedder.model}: ${errorMessage(error)}`);
    console.warn(`[start] the embedding API did not answer (${errorMessage(error)}); changes wait in the queue until it does`);
    return;
  }
  if (vector && vector.length !== embedder.dimensions) {
    throw new ConfigError(
      `${embedder.model} answers ${vector.length}-dimensional vectors, but EMBEDDING_DIMENSIONS and the column are ${embedder.dimensions}: every item and search would fail. Choose a model of ${embedder.dimensions} dimensions, or change both (README "Changing model or dimensions").`,
    );
  }
}
