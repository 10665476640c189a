// A small labelled set over the sample content types (course, lesson, post, comment): the demo's rows
// (scripts/lib/sample-data.ts) and more of the same kind, and queries with the rows that answer them.
// Rows share everyday words across topics ("beginners", "practice", "course") so neither words alone
// nor vectors alone find every answer. Used by tests/labelled-search.test.ts (local embedder) and
// `npm run bench -- labelled` (any embedder).

import type { Database } from "../functions/db/database";
import type { Item } from "../functions/lib/item";
import { communityComment, communityPost, course, courseLesson } from "../schema";
import { sampleComments, sampleCourses, sampleLessons, samplePosts } from "../scripts/lib/sample-data";

type Course = { key: string; title: string; category?: string; tags?: string[]; description?: string };
type Lesson = { key: string; course: string; title: string; content: string };
type Post = { key: string; title: string; body: string };
type Comment = { key: string; body: string };

export const labelledCourses: Course[] = [
  { key: "astronomy", ...sampleCourses[0]! },
  { key: "pandas", ...sampleCourses[1]! },
  { key: "watercolor", ...sampleCourses[2]! },
  {
    key: "guitar",
    title: "Guitar for Beginners",
    category: "Music",
    tags: ["guitar", "chords"],
    description: "Open chords, strumming patterns and your first songs on an acoustic guitar.",
  },
  {
    key: "spanish",
    title: "Conversational Spanish",
    category: "Languages",
    tags: ["spanish", "speaking"],
    description: "Speak Spanish from the first week: greetings, ordering food, asking for directions.",
  },
  {
    key: "sourdough",
    title: "Sourdough Bread at Home",
    category: "Cooking",
    tags: ["baking", "bread"],
    description: "Feed a starter, shape a loaf and bake a crusty sourdough in a home oven.",
  },
];

export const labelledLessons: Lesson[] = [
  { key: "stars-born", course: "astronomy", ...sampleLessons[0]! },
  { key: "groupby", course: "pandas", ...sampleLessons[1]! },
  { key: "greens", course: "watercolor", ...sampleLessons[2]! },
  {
    key: "planets",
    course: "astronomy",
    title: "The planets of the solar system",
    content: "Mercury, Venus, Earth and Mars are rocky; Jupiter and Saturn are gas giants with many moons.",
  },
  {
    key: "merge",
    course: "pandas",
    title: "Joining tables",
    content: "Merge two DataFrames on a key column, like a SQL join, and check the rows that did not match.",
  },
  {
    key: "washes",
    course: "watercolor",
    title: "Flat and graded washes",
    content: "Load the brush with plenty of water and pigment and paint the sky in one even stroke.",
  },
  {
    key: "chords",
    course: "guitar",
    title: "Your first three chords",
    content: "G, C and D major: place your fingers, press the strings and strum slowly for beginners.",
  },
  {
    key: "strumming",
    course: "guitar",
    title: "Strumming patterns",
    content: "Down, down-up, up-down-up: practice the pattern with a metronome before playing songs.",
  },
  {
    key: "greetings",
    course: "spanish",
    title: "Greetings and introductions",
    content: "Hola, buenos días, me llamo Ana: practice introducing yourself out loud every day.",
  },
  {
    key: "restaurant",
    course: "spanish",
    title: "At the restaurant",
    content: "Ordering food in Spanish: la cuenta por favor, quisiera una mesa para dos.",
  },
  {
    key: "starter",
    course: "sourdough",
    title: "Feeding your starter",
    content: "Mix flour and water daily; a healthy starter doubles in size within six hours.",
  },
  {
    key: "shaping",
    course: "sourdough",
    title: "Shaping and baking the loaf",
    content: "Shape the dough into a tight ball, proof overnight in the fridge, bake covered at 250 degrees.",
  },
];

export const labelledPosts: Post[] = [
  { key: "telescope", ...samplePosts[0]! },
  { key: "slow-groupby", ...samplePosts[1]! },
  { key: "first-landscape", ...samplePosts[2]! },
  {
    key: "sore-fingers",
    title: "Sore fingertips after guitar practice",
    body: "My fingers hurt after pressing the strings for an hour. Is that normal for beginners?",
  },
  {
    key: "accent",
    title: "How do I improve my Spanish accent?",
    body: "Native speakers do not understand me when I order food. Any speaking exercises?",
  },
  {
    key: "flat-loaf",
    title: "My sourdough loaf comes out flat",
    body: "The bread spreads in the oven instead of rising. Is my starter too weak?",
  },
  { key: "meteor", title: "Meteor shower tonight", body: "The Perseids peak after midnight; no telescope needed, just dark skies." },
];

export const labelledComments: Comment[] = [
  { key: "refractor", body: sampleComments[0]! },
  { key: "categorical", body: sampleComments[1]! },
  { key: "round-brush", body: sampleComments[2]! },
  { key: "favourite", body: sampleComments[3]! },
  { key: "calluses", body: "The calluses come after two weeks of daily guitar practice; keep sessions short until then." },
  { key: "podcast", body: "Listening to a Spanish podcast and repeating each sentence fixed my pronunciation." },
  { key: "proof-longer", body: "Your dough needs a longer bulk fermentation; a flat loaf usually means it was under-proofed." },
];

/** A query and the keys of the rows that answer it. */
export type LabelledQuery = { query: string; relevant: string[] };

export const labelledQueries: LabelledQuery[] = [
  { query: "telescope to see Saturn", relevant: ["telescope", "refractor", "planets", "meteor"] },
  { query: "how stars form", relevant: ["stars-born", "astronomy", "favourite"] },
  { query: "pandas groupby performance", relevant: ["groupby", "slow-groupby", "categorical", "pandas"] },
  { query: "join two dataframes", relevant: ["merge", "pandas"] },
  { query: "watercolor sky wash brush", relevant: ["washes", "round-brush", "watercolor", "first-landscape"] },
  { query: "mixing green paint for landscapes", relevant: ["greens", "watercolor", "first-landscape"] },
  { query: "guitar chords for beginners", relevant: ["guitar", "chords", "sore-fingers"] },
  { query: "fingers hurt pressing strings", relevant: ["sore-fingers", "calluses", "chords"] },
  { query: "Spanish pronunciation speaking practice", relevant: ["accent", "podcast", "greetings", "spanish"] },
  { query: "order food in a restaurant in Spanish", relevant: ["restaurant", "accent", "spanish"] },
  { query: "sourdough starter not rising", relevant: ["starter", "flat-loaf", "proof-longer", "sourdough"] },
  { query: "flat bread loaf", relevant: ["flat-loaf", "proof-longer", "shaping"] },
];

/** How many of `relevant` the ranked keys hold in their first `k`. */
export const relevantIn = (ranked: string[], relevant: string[], k = 10) =>
  ranked.slice(0, k).filter((key) => relevant.includes(key)).length;

/** Inserts the set's rows into the sample tables; returns each row's key by its content type and id. */
export async function insertLabelledSet(
  db: Database,
): Promise<{ items: Item[]; keyOf: (contentType: string, contentId: string) => string }> {
  const keys = new Map<string, string>();
  const items: Item[] = [];
  const add = (contentType: string, rows: { id: string }[], of: { key: string }[]) =>
    rows.forEach((row, i) => {
      keys.set(`${contentType}/${row.id}`, of[i]!.key);
      items.push({ contentType, contentId: row.id });
    });
  const courses = await db
    .insert(course)
    .values(labelledCourses.map(({ key: _, ...c }) => c))
    .returning({ id: course.id });
  add("course", courses, labelledCourses);
  const courseId = new Map(labelledCourses.map((c, i) => [c.key, courses[i]!.id]));
  add(
    "lesson",
    await db
      .insert(courseLesson)
      .values(labelledLessons.map(({ key: _, course: c, ...l }) => ({ ...l, courseId: courseId.get(c)! })))
      .returning({ id: courseLesson.id }),
    labelledLessons,
  );
  add(
    "post",
    await db
      .insert(communityPost)
      .values(labelledPosts.map(({ key: _, ...p }) => p))
      .returning({ id: communityPost.id }),
    labelledPosts,
  );
  add(
    "comment",
    await db
      .insert(communityComment)
      .values(labelledComments.map(({ key: _, ...c }) => c))
      .returning({ id: communityComment.id }),
    labelledComments,
  );
  return { items, keyOf: (contentType, contentId) => keys.get(`${contentType}/${contentId}`) ?? "" };
}
