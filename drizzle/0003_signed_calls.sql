CREATE TABLE "signed_calls" (
	"signature_id" text PRIMARY KEY NOT NULL,
	"endpoint" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
