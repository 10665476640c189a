CREATE TABLE "embedding_budget" (
	"period" text PRIMARY KEY NOT NULL,
	"tokens" bigint DEFAULT 0 NOT NULL,
	"usd" double precision DEFAULT 0 NOT NULL,
	"reserved_tokens" bigint DEFAULT 0 NOT NULL,
	"reserved_usd" double precision DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "embedding_spend" (
	"day" date NOT NULL,
	"model" text NOT NULL,
	"lane" text NOT NULL,
	"path" text DEFAULT 'live' NOT NULL,
	"tokens" bigint DEFAULT 0 NOT NULL,
	"requests" integer DEFAULT 0 NOT NULL,
	"inputs" integer DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "embedding_spend_day_model_lane_path_pk" PRIMARY KEY("day","model","lane","path")
);
--> statement-breakpoint
CREATE TABLE "pipeline_pauses" (
	"kind" text NOT NULL,
	"name" text NOT NULL,
	"reason" text,
	"paused_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "pipeline_pauses_kind_name_pk" PRIMARY KEY("kind","name")
);
