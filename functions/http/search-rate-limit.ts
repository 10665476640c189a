// SEARCH_PUBLIC=true lets anyone search, and every search pays for an embedding call and a log row.
// Serverless instances share no memory, so the limit is counted where they all write: search_log.
import { desc, sql } from "drizzle-orm";
import type { MiddlewareHandler } from "hono";
import { searchLog } from "../../schema/pipeline-tables.js";
import type { Database } from "../db/database.js";
import { type AppEnv, Status } from "./create-app.js";

/**
 * Refuses an anonymous search (429, before any embedding call) while the site has answered
 * `perMinute` searches or more in the last minute, whoever made them; a token's searches are never
 * refused. One indexed read: the `perMinute`-th newest log row, and whether it is under a minute old.
 */
export function limitAnonymousSearches(db: Database, perMinute: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.get("searchScope") === "anonymous") {
      const [row] = await db
        .select({ recent: sql<boolean>`${searchLog.createdAt} > now() - interval '1 minute'` })
        .from(searchLog)
        .orderBy(desc(searchLog.id))
        .offset(perMinute - 1)
        .limit(1);
      if (row?.recent) {
        return c.json(
          {
            error: `too many searches: anonymous search answers at most SEARCH_PUBLIC_PER_MINUTE (${perMinute}) a minute; try again in a minute, or send SEARCH_TOKEN`,
          },
          Status.tooManyRequests,
          { "retry-after": "60" },
        );
      }
    }
    await next();
  };
}
