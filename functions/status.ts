// GET queue, processor (JSON) and status (HTML) for operators, behind ADMIN_TOKEN.
import type { Deps } from "./deps.js";
import { requireSecret } from "./http/auth.js";
import { createRouter, type Router, Status } from "./http/create-app.js";
import { errorMessage } from "./lib/errors.js";
import { processorStatus, queueStatus } from "./status/read-status.js";
import { statusPage } from "./status/status-page.js";
import { readTrends } from "./status/trends.js";

/** The trends (functions/status/trends.ts), or none when they cannot be read: the counts still answer. */
const trendsOf = (deps: Deps) =>
  readTrends(deps.db, deps.config, (deps.clock ?? Date).now()).catch((error) => {
    console.warn("[status] trends unavailable:", errorMessage(error));
    return undefined;
  });

export function statusRouter(deps: Deps): Router {
  const admin = requireSecret(deps.config.adminToken, "ADMIN_TOKEN");
  return createRouter()
    .use("/queue", admin)
    .use("/processor", admin)
    .use(
      "/status",
      async (c, next) => {
        await next();
        // Lets a browser ask for the token (Basic auth, any user name, the token as password).
        if (c.res.status === Status.unauthorized) c.res.headers.set("WWW-Authenticate", 'Basic realm="embeddings status"');
      },
      admin,
    )
    .get("/queue", async (c) => c.json({ ...(await queueStatus(deps)), trends: await trendsOf(deps) }, Status.ok))
    .get("/processor", async (c) => c.json(await processorStatus(deps), Status.ok))
    .get("/status", async (c) => c.html(statusPage(await queueStatus(deps), await processorStatus(deps), await trendsOf(deps))));
}
