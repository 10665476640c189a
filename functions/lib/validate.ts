// Parses a raw body against a Valibot schema, or throws a 400 that says what was wrong and where.
import * as v from "valibot";
import { BadRequestError } from "./errors.js";

export function describeIssues(issues: [v.BaseIssue<unknown>, ...v.BaseIssue<unknown>[]]): string {
  return issues
    .slice(0, 5)
    .map((issue) => `${v.getDotPath(issue) ?? "body"}: ${issue.message}`)
    .join("; ");
}

export function parseBody<S extends v.GenericSchema>(schema: S, raw: string): v.InferOutput<S> {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new BadRequestError("body is not valid JSON");
  }
  const result = v.safeParse(schema, json);
  if (!result.success) throw new BadRequestError(`invalid body: ${describeIssues(result.issues)}`);
  return result.output;
}
