// SITE_URL as QStash and the operators reach it: our functions answer there (status refuses without its
// token, 401), and they take a delivery signed with the configured key (not 401: the deployment's keys
// are these).
import { BASE_PATH } from "../../../functions/endpoints";
import { errorMessage } from "../../../functions/lib/errors";
import { signDelivery } from "../../qstash-emulator/sign";
import { type DoctorContext, type Finding, fail, ok, skip } from "./finding";

const TIMEOUT_MS = 10_000;

export async function checkSite({ config }: DoctorContext): Promise<Finding[]> {
  if (!config.siteUrl) {
    return [
      fail("site", "SITE_URL is not set: QStash has nowhere to deliver", "set SITE_URL to where the functions are served"),
      skip("signature", "SITE_URL is not set"),
    ];
  }
  const status = `${config.siteUrl}${BASE_PATH}/status`;
  let response: Response;
  try {
    response = await fetch(status, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: "manual" });
  } catch (error) {
    return [
      fail("site", `${status} did not answer: ${errorMessage(error)}`, "check SITE_URL, and that the deployment is live"),
      skip("signature", "SITE_URL did not answer"),
    ];
  }
  const body = await response.text();
  if (response.status !== 401 || !/ADMIN_TOKEN/.test(body)) {
    return [
      fail(
        "site",
        `${status} answered ${response.status}, but not as the functions do (401 asking for ADMIN_TOKEN)`,
        "point SITE_URL at the deployment that serves /api/embeddings/",
      ),
      skip("signature", "the functions are not at SITE_URL"),
    ];
  }
  return [ok("site", `the functions answer at ${config.siteUrl}`), await checkSignature(config.siteUrl, config.qstash.currentSigningKey)];
}

/** A body process-webhook refuses as malformed, after the signature: no work is done. */
const PROBE = JSON.stringify({ doctor: "probe" });

async function checkSignature(siteUrl: string, key: string | undefined): Promise<Finding> {
  if (!key) return skip("signature", "QSTASH_CURRENT_SIGNING_KEY is not set");
  const url = `${siteUrl}${BASE_PATH}/process-webhook`;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "upstash-signature": await signDelivery(key, url, PROBE) },
      body: PROBE,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (response.status === 401) {
      return fail(
        "signature",
        "the deployed functions refuse a delivery signed with this QSTASH_CURRENT_SIGNING_KEY",
        "set the same signing keys in the deployment's environment as here, and redeploy",
      );
    }
    return ok("signature", `the deployed functions accept this signing key (${response.status} to a malformed probe)`);
  } catch (error) {
    return fail("signature", `${url} did not answer: ${errorMessage(error)}`, "check the deployment's logs");
  }
}
