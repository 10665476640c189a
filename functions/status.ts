// GET queue, processor (JSON) and status (HTML) for operators, behind ADMIN_TOKEN.
import type { Deps } from "./deps.js";
import { requireSecret } from "./http/auth.js";
import { createRouter, type Router, Status } from "./http/create-app.js";
import { processorStatus, queueStatus } from "./status/read-status.js";
import { statusPage } from "./status/status-page.js";

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
    .get("/queue", async (c) => c.json(await queueStatus(deps), Status.ok))
    .get("/processor", async (c) => c.json(await processorStatus(deps), Status.ok))
    .get("/status", async (c) => c.html(statusPage(await queueStatus(deps), await processorStatus(deps))));
}
