// Parses a raw body against a Valibot schema, or throws a 400 that says what was wrong and where.
import * as v from "valibot";
import { BadRequestError } from "./errors.js";

export function describeIssues(issues: [v.BaseIssue<unknown>, ...v.BaseIssue<unknown>[]]): string {
  return issues
    .slice(0, 5)
    .map((issue) => `${v.getDotPath(issue) ?? "body"}: ${issue.message}`)
    .join("; ");
}

/** Deepest nesting of arrays and objects a body may have; handling deeper JSON could overflow the stack. */
export const MAX_JSON_DEPTH = 64;

/** Whether the JSON text nests deeper than `limit`, by one pass over it (brackets in strings do not count). */
function nestsDeeperThan(raw: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // a backslash escapes the next character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > limit) return true;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return false;
}

/** Parses a raw body as JSON, or throws a 400: not JSON, or nested too deep to handle safely. */
export function parseJson(raw: string): unknown {
  if (nestsDeeperThan(raw, MAX_JSON_DEPTH)) throw new BadRequestError(`body nests deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(raw);
  } catch {
    throw new BadRequestError("body is not valid JSON");
  }
}

export function parseBody<S extends v.GenericSchema>(schema: S, raw: string): v.InferOutput<S> {
  const json = parseJson(raw);
  const result = v.safeParse(schema, json);
  if (!result.success) throw new BadRequestError(`invalid body: ${describeIssues(result.issues)}`);
  return result.output;
}
