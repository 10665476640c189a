// QStash as the deployment needs it: the token accepted, the schedules present and pointing at SITE_URL,
// the signing keys set and of QStash's form.
import { Client, QstashError } from "@upstash/qstash";
import { endpointUrl } from "../../../functions/endpoints";
import { errorMessage } from "../../../functions/lib/errors";
import { schedulesFrom } from "../schedules";
import { type DoctorContext, type Finding, fail, ok, skip } from "./finding";

/** Lists the schedules with the token: a refusal is the token's fault; a missing schedule, `npm run schedules`'. */
export async function checkQStash({ config, env }: DoctorContext): Promise<Finding[]> {
  if (!config.qstash.token) {
    return [
      config.strategy === "database"
        ? skip("qstash token", "QSTASH_TOKEN is not set: work goes through the database queue and the drain alone")
        : fail("qstash token", "QSTASH_TOKEN is not set", "set QSTASH_TOKEN (Upstash console → QStash)"),
      skip("qstash schedules", "no QStash token"),
    ];
  }
  const client = new Client({ token: config.qstash.token, baseUrl: config.qstash.url, devMode: false, enableTelemetry: false });
  let schedules: Awaited<ReturnType<Client["schedules"]["list"]>>;
  try {
    schedules = await client.schedules.list();
  } catch (error) {
    const refused = error instanceof QstashError && (error.status === 401 || error.status === 403);
    return [
      fail(
        "qstash token",
        refused ? `QStash refused the token (${error.status})` : `QStash did not answer: ${errorMessage(error)}`,
        refused
          ? "copy QSTASH_TOKEN again from the Upstash console (QStash → Request builder)"
          : "check QSTASH_URL (unset for QStash itself)",
      ),
      skip("qstash schedules", "the token was not accepted"),
    ];
  }
  const token = ok("qstash token", `accepted by ${config.qstash.url ?? "https://qstash.upstash.io"}`);
  if (!config.siteUrl) return [token, skip("qstash schedules", "SITE_URL is not set")];
  const missing = schedulesFrom(env)
    .filter(
      (spec) => !schedules.some((s) => s.scheduleId === spec.scheduleId && s.destination === endpointUrl(config.siteUrl!, spec.endpoint)),
    )
    .map((spec) => spec.scheduleId);
  return [
    token,
    missing.length
      ? fail(
          "qstash schedules",
          `missing or not aimed at ${config.siteUrl}: ${missing.join(", ")}`,
          "npm run schedules with this SITE_URL and QSTASH_TOKEN",
        )
      : ok("qstash schedules", `all ${schedulesFrom(env).length} present, aimed at ${config.siteUrl}`),
  ];
}

/** QStash's signing keys read "sig_" and then letters and digits (Upstash console → QStash → Signing keys); the local stack's, base64url. */
const SIGNING_KEY = /^sig_[A-Za-z0-9_-]{8,}$/;

export function checkSigningKeys({ config }: DoctorContext): Finding {
  const { currentSigningKey: current, nextSigningKey: next } = config.qstash;
  const fix = "copy QSTASH_CURRENT_SIGNING_KEY and QSTASH_NEXT_SIGNING_KEY from the Upstash console (QStash → Signing keys)";
  if (!current || !next) {
    const unset = [!current && "QSTASH_CURRENT_SIGNING_KEY", !next && "QSTASH_NEXT_SIGNING_KEY"].filter(Boolean).join(" and ");
    return fail("signing keys", `${unset} not set: every QStash delivery would be refused (401)`, fix);
  }
  const malformed = [
    SIGNING_KEY.test(current) ? "" : "QSTASH_CURRENT_SIGNING_KEY",
    SIGNING_KEY.test(next) ? "" : "QSTASH_NEXT_SIGNING_KEY",
  ].filter(Boolean);
  if (malformed.length) return fail("signing keys", `${malformed.join(" and ")} not of QStash's form (sig_…)`, fix);
  return ok("signing keys", "both set, of QStash's form");
}
