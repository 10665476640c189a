// `npm run demo`: the whole loop on a throwaway in-memory database. Inserts sample courses, lessons,
// posts and comments; shows each lane embed them; then searches.
import { eq } from "drizzle-orm";
import { BASE_PATH, endpointUrl } from "../functions/endpoints";
import { laneFor } from "../functions/qstash/lanes";
import { communityComment, communityPost, course, courseLesson, embeddings } from "../schema";
import { createRegistry } from "../schema/registry";
import { openPglite } from "./lib/database";
import { startLocalStack } from "./lib/local-stack";
import { sampleComments, sampleCourses, sampleLessons, samplePosts } from "./lib/sample-data";

const connection = await openPglite();
await connection.migrate();
const stack = await startLocalStack({ connection, env: process.env, forwardNotifications: true });
const { db } = connection;
const registry = createRegistry();
console.log(`Local stack at ${stack.url}${BASE_PATH} (in-memory database, ${stack.config.provider} embedder)\n`);

const started = Date.now();
const courses = await db.insert(course).values(sampleCourses).returning();
const inserted = [
  ...courses.map((r) => ({ type: "course", id: r.id, label: r.title })),
  // Each sample lesson belongs to the course at its index: a lesson is searchable only while its course is.
  ...(
    await db
      .insert(courseLesson)
      .values(sampleLessons.map((l, i) => ({ ...l, courseId: courses[i]!.id })))
      .returning()
  ).map((r) => ({ type: "lesson", id: r.id, label: r.title })),
  ...(await db.insert(communityPost).values(samplePosts).returning()).map((r) => ({ type: "post", id: r.id, label: r.title })),
  ...(
    await db
      .insert(communityComment)
      .values(sampleComments.map((body) => ({ body })))
      .returning()
  ).map((r) => ({ type: "comment", id: r.id, label: r.body })),
];
console.log(`Inserted ${inserted.length} rows; the triggers queued them and announced them to enqueue.\n`);

const embedded = async (id: string) => (await db.$count(embeddings, eq(embeddings.contentId, id))) > 0;
const waitForAll = async (items: typeof inserted, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(items);
  while (pending.size && Date.now() < deadline) {
    for (const item of pending) {
      if (await embedded(item.id)) {
        pending.delete(item);
        const priority = registry.byType(item.type)!.priority;
        console.log(
          `  ✓ ${item.type.padEnd(8)} p${priority} ${laneFor(priority).padEnd(9)} ${String(Date.now() - started).padStart(5)} ms  ${item.label.slice(0, 60)}`,
        );
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
};

console.log("Immediate (priority 1–2) and queued (3–4) lanes, through QStash:");
await waitForAll(
  inserted.filter((i) => laneFor(registry.byType(i.type)!.priority) !== "database"),
  15_000,
);
console.log("\nBatched lane (priority 5+): its doorbell rings at the minute's end; calling the drain now instead, as its schedule would:");
const { Client } = await import("@upstash/qstash");
await new Client({
  token: stack.config.qstash.token!,
  baseUrl: stack.config.qstash.url,
  devMode: false,
  enableTelemetry: false,
}).publishJSON({ url: endpointUrl(stack.url, "drain"), body: {} });
await waitForAll(
  inserted.filter((i) => laneFor(registry.byType(i.type)!.priority) === "database"),
  15_000,
);

for (const query of ["how do stars form", "speed up pandas groupby", "telescope to see saturn"]) {
  const response = await fetch(endpointUrl(stack.url, "search"), {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${stack.config.searchToken}` },
    body: JSON.stringify({ query, limit: 3 }),
  });
  const { results } = (await response.json()) as { results: { contentType: string; score: number; snippet: string }[] };
  console.log(`\nSearch "${query}":`);
  for (const r of results) console.log(`  ${r.score.toFixed(3)}  ${r.contentType.padEnd(8)} ${r.snippet.split("\n")[0]!.slice(0, 70)}`);
}
if (stack.config.provider === "local")
  console.log("\n(The local embedder is lexical: it matches shared words, not meaning. Set OPENAI_API_KEY for semantic search.)");
await stack.close();
await connection.close();
