// A signed request is valid for its signature's lifetime (5 minutes): whoever captures one could send
// it again. Scheduled jobs that must not run twice for one call record the signature they ran for.
import { eq } from "drizzle-orm";
import type { MiddlewareHandler } from "hono";
import { signedCalls } from "../../schema/pipeline-tables.js";
import type { Database } from "../db/database.js";
import type { EndpointName } from "../endpoints.js";
import { type AppEnv, Status } from "./create-app.js";

/**
 * Runs the handler once per signature (after requireQStashSignature): a replay answers 200 with
 * `replayed: true` and does nothing. A run that fails gives its signature back, so a retry can run.
 */
export function oncePerSignature(db: Database, endpoint: EndpointName): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const { id, expiresAt } = c.get("signature");
    const claimed = await db
      .insert(signedCalls)
      .values({ signatureId: id, endpoint, expiresAt: new Date(expiresAt * 1000) })
      .onConflictDoNothing()
      .returning({ id: signedCalls.signatureId });
    if (claimed.length === 0) return c.json({ replayed: true }, Status.ok);
    await next();
    if (c.error || c.res.status >= 500) await db.delete(signedCalls).where(eq(signedCalls.signatureId, id));
  };
}
