// The user's platform tables that the default registry embeds (used by the demo and the tests).
import { boolean, integer, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

const timestamps = {
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
};

export const users = pgTable("users", {
  id: uuid("id").primaryKey().defaultRandom(),
  email: text("email").notNull(),
  fullName: text("full_name"),
  lastSignInAt: timestamp("last_sign_in_at", { withTimezone: true }),
  ...timestamps,
});

export const profiles = pgTable("profiles", {
  id: uuid("id").primaryKey().defaultRandom(),
  userId: uuid("user_id"),
  username: text("username").notNull(),
  fullName: text("full_name"),
  headline: text("headline"),
  bio: text("bio"),
  skills: text("skills").array(),
  lastSeenAt: timestamp("last_seen_at", { withTimezone: true }),
  ...timestamps,
});

export const course = pgTable("course", {
  id: uuid("id").primaryKey().defaultRandom(),
  title: text("title").notNull(),
  description: text("description"),
  category: text("category"),
  tags: text("tags").array(),
  requirements: text("requirements").array(),
  learningObjectives: text("learning_objectives").array(),
  published: boolean("published").notNull().default(true),
  viewCount: integer("view_count").notNull().default(0),
  ...timestamps,
});

export const courseLesson = pgTable("course_lesson", {
  id: uuid("id").primaryKey().defaultRandom(),
  courseId: uuid("course_id"),
  title: text("title").notNull(),
  content: text("content"),
  position: integer("position").notNull().default(0),
  ...timestamps,
});

export const communityPost = pgTable("community_post", {
  id: uuid("id").primaryKey().defaultRandom(),
  authorId: uuid("author_id"),
  title: text("title").notNull(),
  body: text("body"),
  likeCount: integer("like_count").notNull().default(0),
  ...timestamps,
});

export const communityComment = pgTable("community_comment", {
  id: uuid("id").primaryKey().defaultRandom(),
  postId: uuid("post_id"),
  authorId: uuid("author_id"),
  body: text("body").notNull(),
  likeCount: integer("like_count").notNull().default(0),
  ...timestamps,
});
