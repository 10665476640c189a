CREATE TABLE "embedding_batch_rows" (
	"batch_id" bigint NOT NULL,
	"queue_id" bigint NOT NULL,
	"content_type" text NOT NULL,
	"content_id" text NOT NULL,
	"priority" integer NOT NULL,
	CONSTRAINT "embedding_batch_rows_batch_id_queue_id_pk" PRIMARY KEY("batch_id","queue_id")
);
--> statement-breakpoint
CREATE TABLE "embedding_batches" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"state" text DEFAULT 'preparing' NOT NULL,
	"provider_batch_id" text,
	"input_file_id" text,
	"provider_status" text,
	"model" text NOT NULL,
	"dimensions" integer NOT NULL,
	"inputs" integer DEFAULT 0 NOT NULL,
	"budget_period" text,
	"reserved_tokens" bigint DEFAULT 0 NOT NULL,
	"reserved_usd" double precision DEFAULT 0 NOT NULL,
	"tokens" bigint,
	"last_error" text,
	"lease_until" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"settled_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "embedding_batch_rows" ADD CONSTRAINT "embedding_batch_rows_batch_id_embedding_batches_id_fk" FOREIGN KEY ("batch_id") REFERENCES "public"."embedding_batches"("id") ON DELETE cascade ON UPDATE no action;