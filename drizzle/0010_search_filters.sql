ALTER TABLE "embeddings" ADD COLUMN "filters" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "embeddings" ADD COLUMN "filter_date" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "embeddings_filters_gin" ON "embeddings" USING gin ("filters" jsonb_path_ops);--> statement-breakpoint
CREATE INDEX "embeddings_filter_date" ON "embeddings" USING btree ("filter_date");