// What `npm run doctor` reports: one finding a check, one line each, with the fix when it failed.
import type { Config } from "../../../functions/config";
import type { Database } from "../../../functions/db/database";

export type Status = "ok" | "warn" | "fail" | "skip";
export type Finding = { check: string; status: Status; detail: string; fix?: string };

/** What the checks share: the environment parsed, and the database once it has been reached. */
export type DoctorContext = {
  env: Record<string, string | undefined>;
  config: Config;
  db?: Database;
};

export const ok = (check: string, detail: string): Finding => ({ check, status: "ok", detail });
export const warn = (check: string, detail: string, fix: string): Finding => ({ check, status: "warn", detail, fix });
export const fail = (check: string, detail: string, fix: string): Finding => ({ check, status: "fail", detail, fix });
export const skip = (check: string, detail: string): Finding => ({ check, status: "skip", detail });

const MARK: Record<Status, string> = { ok: "ok  ", warn: "WARN", fail: "FAIL", skip: "skip" };

/** One line: the mark, the check, what was found, and the fix. */
export const formatFinding = (f: Finding) => `${MARK[f.status]} ${f.check.padEnd(18)} ${f.detail}${f.fix ? ` → fix: ${f.fix}` : ""}`;
