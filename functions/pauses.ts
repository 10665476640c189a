// POST /api/embeddings/pause and /resume (admin): holds a lane or a content type back, and lets it go
// (README "Cost, budget and pauses"). Paused rows wait in the queue; the claim gate skips them and no
// doorbell rings for them (functions/queue/gate.ts). `npm run pause` / `npm run resume` do the same.
import * as v from "valibot";
import { LANE_NAMES } from "../schema/messages.js";
import type { PauseKind } from "../schema/pipeline-tables.js";
import type { Registry } from "../schema/registry.js";
import type { Database } from "./db/database.js";
import type { Deps } from "./deps.js";
import { requireSecret } from "./http/auth.js";
import { createRouter, type Router, Status } from "./http/create-app.js";
import { BadRequestError } from "./lib/errors.js";
import { parseBody } from "./lib/validate.js";
import { listPauses, pause, resume } from "./queue/pauses.js";

export const PauseRequestSchema = v.pipe(
  v.object({
    lane: v.optional(v.picklist(LANE_NAMES, `must be one of ${LANE_NAMES.join(", ")}`)),
    contentType: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(100))),
    reason: v.optional(v.pipe(v.string(), v.trim(), v.maxLength(200, "must be at most 200 characters"))),
  }),
  v.check((r) => (r.lane === undefined) !== (r.contentType === undefined), "give either lane or contentType, not both"),
);
export type PauseRequest = v.InferOutput<typeof PauseRequestSchema>;

/** What a request names, checked against the registry: a 400 names the known types. */
export function pauseTarget(registry: Registry, request: PauseRequest): { kind: PauseKind; name: string } {
  if (request.lane) return { kind: "lane", name: request.lane };
  const type = request.contentType!;
  if (!registry.byType(type)) {
    throw new BadRequestError(`unknown content type "${type}"; known: ${registry.entries.map((e) => e.type).join(", ")}`);
  }
  return { kind: "type", name: type };
}

/** Pauses or resumes what the request names; answers what is paused after it. */
export async function applyPause(db: Database, registry: Registry, action: "pause" | "resume", request: PauseRequest) {
  const target = pauseTarget(registry, request);
  const changed =
    action === "pause" ? (await pause(db, target.kind, target.name, request.reason), true) : await resume(db, target.kind, target.name);
  return { [action === "pause" ? "paused" : "resumed"]: target, changed, pauses: await listPauses(db) };
}

export function pausesRouter(deps: Deps): Router {
  const admin = requireSecret(deps.config.adminToken, "ADMIN_TOKEN");
  const request = async (text: Promise<string>) => parseBody(PauseRequestSchema, await text);
  return createRouter()
    .use("/pause", admin)
    .use("/resume", admin)
    .post("/pause", async (c) => c.json(await applyPause(deps.db, deps.registry, "pause", await request(c.req.text())), Status.ok))
    .post("/resume", async (c) => c.json(await applyPause(deps.db, deps.registry, "resume", await request(c.req.text())), Status.ok));
}
