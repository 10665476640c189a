/** What a deploy's environment holds, per platform: a Neon URL (its WebSockets go to the local relay instead), secrets named for the platform. */
export const deployEnv = (platform: "netlify" | "vercel", site: string) => ({
  DATABASE_URL: "postgres://app:secret@ep-deploy-test.eu-central-1.aws.neon.tech/neondb",
  EMBEDDER: "local",
  WEBHOOK_SECRET: `${platform}-webhook-secret`,
  ADMIN_TOKEN: `${platform}-admin-token`,
  SEARCH_TOKEN: `${platform}-search-token`,
  QSTASH_CURRENT_SIGNING_KEY: `sig_${platform}_current`,
  QSTASH_NEXT_SIGNING_KEY: `sig_${platform}_next`,
  SITE_URL: site,
});
