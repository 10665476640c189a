// Each run of a scheduled function leaves a row, so the status endpoint can say when each last ran.
import { jobRuns } from "../../schema/pipeline-tables.js";
import type { EndpointName } from "../endpoints.js";
import { errorMessage } from "../lib/errors.js";
import type { Database } from "./database.js";

/** Runs `job`, records how it went, and returns its summary (or rethrows its error). */
export async function recordRun<T extends Record<string, unknown>>(db: Database, job: EndpointName, run: () => Promise<T>): Promise<T> {
  const startedAt = new Date();
  try {
    const summary = await run();
    await db.insert(jobRuns).values({ job, ok: true, summary, startedAt });
    return summary;
  } catch (error) {
    await db
      .insert(jobRuns)
      .values({ job, ok: false, summary: { error: errorMessage(error) }, startedAt })
      .catch(() => undefined);
    throw error;
  }
}
