// Turns what a database webhook or the app sends into changes: which row, what happened, how urgent.
import * as v from "valibot";
import { DirectItemSchema, HasuraEventSchema, MAX_ITEMS, SupabaseWebhookSchema } from "../../schema/messages.js";
import type { QueueOp } from "../../schema/pipeline-tables.js";
import { type ContentType, capturedFields, idPattern, normalizeId, type Registry } from "../../schema/registry.js";
import { BadRequestError } from "../lib/errors.js";
import { describeIssues } from "../lib/validate.js";

export type Change = { contentType: string; contentId: string; priority: number; op: QueueOp; unchanged?: boolean };

type Row = Record<string, unknown> | null | undefined;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function rowChange(registry: Registry, table: string, op: "INSERT" | "UPDATE" | "DELETE", row: Row, old: Row): Change {
  const entry = registry.byTable(table);
  if (!entry) throw new BadRequestError(`unknown table "${table}": no content type is registered for it`);
  const source = op === "DELETE" ? (old ?? row) : row;
  if (!source) throw new BadRequestError(`${op} payload for "${table}" has no ${op === "DELETE" ? "old_record" : "record"}`);
  const id = source[entry.idColumn.name];
  const change = checkedChange(entry, id, entry.priority, op === "DELETE" ? "delete" : "upsert");
  // An update that changes no watched field needs no new embedding.
  if (op === "UPDATE" && old && row) {
    const fields = capturedFields(entry).map((c) => c.name);
    if (fields.every((f) => same(row[f], old[f]))) change.unchanged = true;
  }
  return change;
}

function checkedChange(entry: ContentType, id: unknown, priority: number, op: QueueOp): Change {
  const text = typeof id === "number" && Number.isSafeInteger(id) ? String(id) : id;
  if (typeof text !== "string" || !idPattern(entry).test(text)) {
    throw new BadRequestError(`invalid ${entry.idColumn.name} for ${entry.type}: ${JSON.stringify(id)?.slice(0, 80)}`);
  }
  return { contentType: entry.type, contentId: normalizeId(entry, text), priority, op };
}

function directChange(registry: Registry, item: v.InferOutput<typeof DirectItemSchema>): Change {
  const entry = registry.byType(item.contentType);
  if (!entry) throw new BadRequestError(`unknown content type "${item.contentType}"`);
  return checkedChange(entry, item.contentId, item.priority ?? entry.priority, item.op ?? "upsert");
}

/** Reads any of the accepted payloads; throws BadRequestError naming what is wrong. */
export function parseChanges(registry: Registry, body: unknown): Change[] {
  if (Array.isArray(body)) {
    if (body.length === 0) throw new BadRequestError("body: the list of items is empty");
    if (body.length > MAX_ITEMS) throw new BadRequestError(`body: at most ${MAX_ITEMS} items per request`);
    return body.map((item, index) => {
      const parsed = v.safeParse(DirectItemSchema, item);
      if (!parsed.success) throw new BadRequestError(`invalid item ${index}: ${describeIssues(parsed.issues)}`);
      return directChange(registry, parsed.output);
    });
  }
  if (typeof body !== "object" || body === null) {
    throw new BadRequestError("body must be a JSON object or array");
  }
  if ("event" in body) {
    const parsed = v.safeParse(HasuraEventSchema, body);
    if (!parsed.success) throw new BadRequestError(`invalid Hasura event: ${describeIssues(parsed.issues)}`);
    const { event, table } = parsed.output;
    const op = event.op === "MANUAL" ? "INSERT" : event.op;
    return [rowChange(registry, table.name, op, event.data.new, event.data.old)];
  }
  if ("type" in body && "table" in body) {
    const parsed = v.safeParse(SupabaseWebhookSchema, body);
    if (!parsed.success) throw new BadRequestError(`invalid database webhook: ${describeIssues(parsed.issues)}`);
    const w = parsed.output;
    return [rowChange(registry, w.table, w.type, w.record, w.old_record)];
  }
  const parsed = v.safeParse(DirectItemSchema, body);
  if (!parsed.success) {
    throw new BadRequestError(
      `body must be a database webhook {type, table, record, old_record}, a Hasura event, or {contentType, contentId, priority?}: ${describeIssues(parsed.issues)}`,
    );
  }
  return [directChange(registry, parsed.output)];
}
