CREATE TABLE "lane_state" (
	"lane" text PRIMARY KEY NOT NULL,
	"holder" text DEFAULT 'ringing' NOT NULL,
	"held_until" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "qstash_spend" (
	"day" date PRIMARY KEY NOT NULL,
	"publish_requests" integer DEFAULT 0 NOT NULL,
	"deliveries" integer DEFAULT 0 NOT NULL,
	"retried" integer DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
