// `npm run model -- <command>` (README "Switching models"): the shadow set, its coverage, the switch
// and the rollback, each one call of functions/sets/.
import type { Config } from "../../functions/config";
import type { Database } from "../../functions/db/database";
import { createEmbedder, createShadowEmbedder } from "../../functions/embedders";
import { BadRequestError } from "../../functions/lib/errors";
import { describeSet } from "../../functions/sets/sets";
import { createShadow, dropShadow } from "../../functions/sets/shadow";
import { prepareSwitch, switchSets } from "../../functions/sets/switch";
import { modelSwitchStatus } from "../../functions/status/model-switch";
import { type VectorStorage, vectorStorages } from "../../schema/pipeline-tables";

export const MODEL_USAGE = `npm run model -- status
npm run model -- shadow [model] [--dimensions N] [--storage vector|halfvec]
    embeds model (default EMBEDDING_SHADOW_MODEL, else EMBEDDING_MODEL) alongside the serving set
npm run model -- switch      serve the shadow (refused until it holds every chunk)
npm run model -- rollback    serve the set switched from again (within EMBEDDING_ROLLBACK_DAYS)
npm run model -- drop-shadow give up a shadow, or drop the set switched from now`;

/** Runs one command; returns what to print. Throws BadRequestError for a command refused. */
export async function modelCommand(db: Database, config: Config, args: string[]): Promise<string> {
  const [command, ...rest] = args;
  const option = (name: string) => {
    const i = rest.indexOf(name);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  switch (command) {
    case "status": {
      const status = await modelSwitchStatus(db, embedders(config), config);
      if (!status) return "No model switch: embeddings serves alone (npm run model -- shadow <model> starts one).";
      const lines = [`serving  ${status.serving}`, `shadow   ${status.shadow} (${status.phase})`];
      lines.push(`coverage ${status.covered} of ${status.servingChunks} chunks (${status.percent}%), ${status.missingItems} items missing`);
      if (status.rollbackUntil)
        lines.push(`rollback possible until ${status.rollbackUntil} (EMBEDDING_ROLLBACK_DAYS=${config.sets.rollbackDays})`);
      if (!status.embedderAtHand)
        lines.push("this environment has no embedder for the shadow: set EMBEDDING_SHADOW_MODEL (and _DIMENSIONS) to it");
      return lines.join("\n");
    }
    case "shadow": {
      const named = rest.find((a, i) => !a.startsWith("--") && !rest[i - 1]?.startsWith("--"));
      const model = named ?? config.shadow?.model ?? config.model;
      const dimensions = Number(
        option("--dimensions") ?? (config.shadow && model === config.shadow.model ? config.shadow.dimensions : config.dimensions),
      );
      const storage = (option("--storage") ?? config.sets.storage) as VectorStorage;
      if (!vectorStorages.includes(storage)) throw new BadRequestError(`--storage must be vector or halfvec, not ${storage}`);
      if (!Number.isInteger(dimensions) || dimensions < 1) throw new BadRequestError("--dimensions must be a whole number");
      const { copied, queued } = await createShadow(db, { model, dimensions, storage }, config);
      const wanted = { model, dimensions, storage };
      const atHand = [config, config.shadow].some((m) => m && m.model === model && m.dimensions === dimensions);
      return [
        `shadow ${describeSet(wanted)} created: ${copied ? `${copied} chunks copied from the serving set (same model, no API call)` : `${queued} items queued at backfill priority`}`,
        atHand
          ? ""
          : `nothing will embed it until EMBEDDING_SHADOW_MODEL=${model} and EMBEDDING_SHADOW_DIMENSIONS=${dimensions} are set where the functions run`,
      ]
        .filter(Boolean)
        .join("\n");
    }
    case "switch":
    case "rollback": {
      const prepared = performance.now();
      await prepareSwitch(db);
      const started = performance.now();
      const result = await switchSets(db, command);
      const ms = Math.round(performance.now() - started);
      return [
        `serving ${describeSet(result.serving)} (${command} took ${ms} ms) after VACUUM (ANALYZE) of it in ${Math.round(started - prepared)} ms`,
        `${describeSet(result.retired)} is kept for rollback for ${config.sets.rollbackDays} days (EMBEDDING_ROLLBACK_DAYS), then maintenance drops it`,
        "the functions read which set serves from the database: keep both models configured where they run (EMBEDDING_MODEL and EMBEDDING_SHADOW_MODEL) while a rollback may be wanted, and the serving one after",
      ].join("\n");
    }
    case "drop-shadow":
      return (await dropShadow(db)) ? "shadow set dropped" : "there was no shadow set";
    default:
      throw new BadRequestError(`unknown command ${command ?? "(none)"}; one of:\n${MODEL_USAGE}`);
  }
}

const embedders = (config: Config) => ({ embedder: createEmbedder(config), shadowEmbedder: createShadowEmbedder(config) });
