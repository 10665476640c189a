-- Exact queue counts at any size (functions/status/queue-counts.ts, ARCHITECTURE.md §2): statement
-- triggers on embedding_queue append, in the writing transaction, one row of deltas per status and
-- priority a statement changed; the sum of queue_counts is the count. Appends never wait for each other.
-- The functions run with their owner's rights (a capture under Supabase's `authenticated` writes the
-- queue through queue_for_embedding), search_path pg_catalog's alone, our names qualified.
DO $create$
BEGIN
  EXECUTE replace($definition$CREATE OR REPLACE FUNCTION @schema@.count_queue_rows()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO @schema@.queue_counts (status, priority, n)
      SELECT r.status, r.priority, count(*) FROM new_rows r GROUP BY r.status, r.priority;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO @schema@.queue_counts (status, priority, n)
      SELECT r.status, r.priority, -count(*) FROM old_rows r GROUP BY r.status, r.priority;
  ELSE
    INSERT INTO @schema@.queue_counts (status, priority, n)
      SELECT d.status, d.priority, sum(d.n) FROM (
        SELECT r.status, r.priority, 1 AS n FROM new_rows r
        UNION ALL SELECT r.status, r.priority, -1 FROM old_rows r) d
      GROUP BY d.status, d.priority HAVING sum(d.n) <> 0;
  END IF;
  RETURN NULL;
END;
$$;$definition$, '@schema@', quote_ident(current_schema()));
  EXECUTE replace($definition$CREATE OR REPLACE FUNCTION @schema@.clear_queue_counts()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  DELETE FROM @schema@.queue_counts;
  RETURN NULL;
END;
$$;$definition$, '@schema@', quote_ident(current_schema()));
END $create$;
--> statement-breakpoint
-- Counted and triggered under one lock: no write can fall between the count and the triggers.
LOCK TABLE "embedding_queue" IN SHARE ROW EXCLUSIVE MODE;
--> statement-breakpoint
DELETE FROM "queue_counts";
--> statement-breakpoint
INSERT INTO "queue_counts" (status, priority, n) SELECT status, priority, count(*) FROM "embedding_queue" GROUP BY status, priority;
--> statement-breakpoint
DROP TRIGGER IF EXISTS "embedding_queue_count_insert" ON "embedding_queue";
--> statement-breakpoint
CREATE TRIGGER "embedding_queue_count_insert" AFTER INSERT ON "embedding_queue" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_queue_rows();
--> statement-breakpoint
DROP TRIGGER IF EXISTS "embedding_queue_count_update" ON "embedding_queue";
--> statement-breakpoint
CREATE TRIGGER "embedding_queue_count_update" AFTER UPDATE ON "embedding_queue" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_queue_rows();
--> statement-breakpoint
DROP TRIGGER IF EXISTS "embedding_queue_count_delete" ON "embedding_queue";
--> statement-breakpoint
CREATE TRIGGER "embedding_queue_count_delete" AFTER DELETE ON "embedding_queue" REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_queue_rows();
--> statement-breakpoint
DROP TRIGGER IF EXISTS "embedding_queue_count_truncate" ON "embedding_queue";
--> statement-breakpoint
CREATE TRIGGER "embedding_queue_count_truncate" AFTER TRUNCATE ON "embedding_queue" FOR EACH STATEMENT EXECUTE FUNCTION clear_queue_counts();
--> statement-breakpoint
-- Kept to their owner, as the change-capture migration keeps the other tables (README "Security").
ALTER TABLE "queue_counts" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "status_rollup" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "alert_state" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
DO $$
DECLARE
  target record;
BEGIN
  FOR target IN
    WITH objects AS (
      SELECT 'TABLE ' || c.oid::regclass AS name, coalesce(c.relacl, acldefault('r', c.relowner)) AS acl, c.relowner AS owner
        FROM pg_class c WHERE c.oid IN ('queue_counts'::regclass, 'status_rollup'::regclass, 'alert_state'::regclass)
      UNION ALL
      SELECT 'FUNCTION ' || p.oid::regprocedure, coalesce(p.proacl, acldefault('f', p.proowner)), p.proowner
        FROM pg_proc p WHERE p.oid IN ('count_queue_rows()'::regprocedure, 'clear_queue_counts()'::regprocedure)
    )
    SELECT DISTINCT o.name, a.grantee FROM objects o CROSS JOIN LATERAL aclexplode(o.acl) a WHERE a.grantee <> o.owner
  LOOP
    EXECUTE format('REVOKE ALL ON %s FROM %s', target.name,
      CASE WHEN target.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(target.grantee)) END);
  END LOOP;
END $$;
