ALTER TABLE "embeddings" ADD COLUMN "text_config" "regconfig" DEFAULT 'english'::regconfig NOT NULL;--> statement-breakpoint
ALTER TABLE "embeddings" ADD COLUMN "text_search" "tsvector" GENERATED ALWAYS AS (to_tsvector(text_config, chunk_text)) STORED NOT NULL;--> statement-breakpoint
CREATE INDEX "embeddings_text_search_gin" ON "embeddings" USING gin ("text_search");