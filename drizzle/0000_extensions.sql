-- pgvector must exist before the embeddings table.
CREATE EXTENSION IF NOT EXISTS vector;