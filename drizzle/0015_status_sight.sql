CREATE TABLE "alert_state" (
	"key" text PRIMARY KEY NOT NULL,
	"since" timestamp with time zone,
	"firing" boolean DEFAULT false NOT NULL,
	"fired_at" timestamp with time zone,
	"notified" boolean DEFAULT true NOT NULL,
	"detail" text DEFAULT '' NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "queue_counts" (
	"status" text NOT NULL,
	"priority" integer NOT NULL,
	"n" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "status_rollup" (
	"bucket" timestamp with time zone NOT NULL,
	"lane" text NOT NULL,
	"done" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"latency" integer[] DEFAULT '{}'::integer[] NOT NULL,
	"backlog" integer,
	"rolled_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "status_rollup_bucket_lane_pk" PRIMARY KEY("bucket","lane")
);
--> statement-breakpoint
CREATE INDEX "embedding_queue_unfinished_age" ON "embedding_queue" USING btree ("priority","created_at") WHERE status IN ('pending', 'processing');--> statement-breakpoint
CREATE INDEX "embedding_queue_settled_at" ON "embedding_queue" USING btree ("updated_at") WHERE status IN ('done', 'failed');--> statement-breakpoint
CREATE INDEX "embedding_queue_errors" ON "embedding_queue" USING btree ("updated_at") WHERE last_error IS NOT NULL;