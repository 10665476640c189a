// The functions on the shared app: all of them, for servers that host them together (the local stack,
// the tests), or one, as its own entry serves it (api/ and netlify/ build theirs with edge.ts).
import type { Deps } from "./deps.js";
import { ENDPOINT_LIST, type EndpointName } from "./endpoints.js";
import { createApp, createRouter, type Router } from "./http/create-app.js";
import { ROUTERS } from "./routers.js";

/** Every function's routes on one router. */
export function allFunctionsRouter(deps: Deps): Router {
  const router = createRouter();
  for (const endpoint of ENDPOINT_LIST) router.route("/", ROUTERS[endpoint.name](deps));
  return router;
}

export const createAllFunctions = (deps: Deps) => createApp(allFunctionsRouter(deps));

export const createFunctionApp = (name: EndpointName, deps: Deps) => createApp(ROUTERS[name](deps));
