CREATE TABLE "hidden_embeddings" (
	"content_type" text NOT NULL,
	"content_id" text NOT NULL,
	"chunk_index" integer NOT NULL,
	"content_hash" text NOT NULL,
	"model" text NOT NULL,
	"embedding" vector NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "hidden_embeddings_content_type_content_id_chunk_index_pk" PRIMARY KEY("content_type","content_id","chunk_index")
);
