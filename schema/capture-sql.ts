// Change capture as SQL, generated from the registry (`npm run db:triggers` writes it as a migration).
// queue_for_embedding is the outbox: it runs in the writing transaction, so a committed change is
// never missed, and it coalesces a burst of edits into one pending row (ARCHITECTURE.md §1, "Capture").
// The same migration keeps the pipeline's tables and functions to their owner (README "Security").
import { getTableName } from "drizzle-orm";
import { pipelineTables } from "./pipeline-tables.js";
import { type ContentType, capturedFields, visibilityFields } from "./registry.js";

export const NOTIFY_CHANNEL = "embedding_queue";
const BREAKPOINT = "\n--> statement-breakpoint\n";

// The functions run with search_path = pg_catalog, pg_temp: a role that may create in the migrated
// schema (every role in `public` before PostgreSQL 15) cannot slip in an operator or function with a
// closer match than pg_catalog's (\`integer * interval\`, \`to_jsonb(course)\`) to run with the owner's
// rights. So every name of ours is qualified with the schema migrated into, which \`created()\` puts
// in place of this marker when the migration runs.
const SCHEMA = "@schema@";

// p_delay_ms > 0 parks the row as a safety net for an item handed to QStash: the drain takes it only
// if no delivery has settled it by then. The latest call decides when the row is due.
const queueFunction = `CREATE OR REPLACE FUNCTION ${SCHEMA}.queue_for_embedding(p_content_type text, p_content_id text, p_priority integer, p_op text DEFAULT 'upsert', p_source text DEFAULT 'trigger', p_delay_ms integer DEFAULT 0)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ${SCHEMA}.embedding_queue (content_type, content_id, op, priority, source, run_after)
  VALUES (p_content_type, p_content_id, p_op, p_priority, p_source, now() + p_delay_ms * interval '1 millisecond')
  ON CONFLICT (content_type, content_id) WHERE status = 'pending'
  DO UPDATE SET op = excluded.op, priority = LEAST(embedding_queue.priority, excluded.priority),
    run_after = excluded.run_after, updated_at = now();
  -- Only captured changes are announced: the app's own enqueue calls already routed theirs.
  IF p_source = 'trigger' THEN
    PERFORM pg_notify('${NOTIFY_CHANNEL}', json_build_object('contentType', p_content_type, 'contentId', p_content_id, 'priority', p_priority, 'op', p_op)::text);
  END IF;
END;
$$;`;

// One trigger function serves every table: its arguments are the content type, priority and id column.
// It runs with its owner's rights (SECURITY DEFINER), so a write by a role that may not touch the
// queue (Supabase's `authenticated`, under row-level security) is still queued.
const captureFunction = `CREATE OR REPLACE FUNCTION ${SCHEMA}.capture_embedding_change()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM ${SCHEMA}.queue_for_embedding(TG_ARGV[0], to_jsonb(OLD) ->> TG_ARGV[2], TG_ARGV[1]::integer, 'delete');
    RETURN OLD;
  END IF;
  PERFORM ${SCHEMA}.queue_for_embedding(TG_ARGV[0], to_jsonb(NEW) ->> TG_ARGV[2], TG_ARGV[1]::integer, 'upsert');
  RETURN NEW;
END;
$$;`;

// A change that may show or hide a parent row (its deletion, or its visibility fields) queues each of
// its children of one content type, at the parent's priority: they leave search as fast as it does.
// Arguments: the child's content type, table, id column and foreign key; the parent's id column and
// priority. Children are queued in id order, the order every writer of queue rows takes them in. The
// child's table is the one beside the parent's (TG_TABLE_SCHEMA), named in full like everything here.
const childrenFunction = `CREATE OR REPLACE FUNCTION ${SCHEMA}.capture_embedding_children()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  children text := format('SELECT count(${SCHEMA}.queue_for_embedding(%L, c.id, %s)) FROM (SELECT t.%3$I::text AS id FROM %7$I.%4$I t WHERE t.%5$I = ($1).%6$I ORDER BY t.%3$I::text COLLATE "C") c',
    TG_ARGV[0], TG_ARGV[5]::integer, TG_ARGV[2], TG_ARGV[1], TG_ARGV[3], TG_ARGV[4], TG_TABLE_SCHEMA);
BEGIN
  IF TG_OP = 'DELETE' THEN
    EXECUTE children USING OLD;
  ELSE
    EXECUTE children USING NEW;
  END IF;
  RETURN NULL;
END;
$$;`;

const FUNCTIONS = [
  "queue_for_embedding(text, text, integer, text, text, integer)",
  "capture_embedding_change()",
  "capture_embedding_children()",
];

// Only the owner (the role that migrates, the pipeline's) may use the pipeline's tables, their
// sequences and its functions: every grant to anyone else is revoked, PUBLIC's EXECUTE included,
// whatever default privileges gave (Supabase grants all to anon, authenticated and service_role).
// Row-level security with no policy refuses any role a grant might reach later; the owner is exempt.
// The functions' search_path is pg_catalog's alone (see SCHEMA), so neither a caller's path nor what
// a role defines in the migrated schema can redirect them.
function privileges(tables: string[]): string[] {
  const regclasses = tables.map((t) => `${literal(t)}::regclass`).join(", ");
  return [
    ...tables.map((t) => `ALTER TABLE ${quote(t)} ENABLE ROW LEVEL SECURITY;`),
    `DO $$
BEGIN
${FUNCTIONS.map((f) => `  ALTER FUNCTION ${f} SET search_path = pg_catalog, pg_temp;`).join("\n")}
END $$;`,
    `DO $$
DECLARE
  target record;
BEGIN
  FOR target IN
    WITH objects AS (
      SELECT 'TABLE ' || c.oid::regclass AS name, coalesce(c.relacl, acldefault('r', c.relowner)) AS acl, c.relowner AS owner
        FROM pg_class c WHERE c.oid IN (${regclasses})
      UNION ALL
      SELECT 'SEQUENCE ' || s.oid::regclass, coalesce(s.relacl, acldefault('s', s.relowner)), s.relowner
        FROM pg_class s JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.refclassid = 'pg_class'::regclass
        WHERE s.relkind = 'S' AND d.refobjid IN (${regclasses})
      UNION ALL
      SELECT 'FUNCTION ' || p.oid::regprocedure, coalesce(p.proacl, acldefault('f', p.proowner)), p.proowner
        FROM pg_proc p WHERE p.oid IN (${FUNCTIONS.map((f) => `'${f}'::regprocedure`).join(", ")})
    )
    SELECT DISTINCT o.name, a.grantee FROM objects o CROSS JOIN LATERAL aclexplode(o.acl) a WHERE a.grantee <> o.owner
  LOOP
    EXECUTE format('REVOKE ALL ON %s FROM %s', target.name,
      CASE WHEN target.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(target.grantee)) END);
  END LOOP;
END $$;`,
  ];
}

/** Creates a function written with the SCHEMA marker, qualified with the schema being migrated. */
const created = (definition: string) => `DO $create$
BEGIN
  EXECUTE replace($definition$${definition}$definition$, '${SCHEMA}', quote_ident(current_schema()));
END $create$;`;

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;

function tableTriggers(entry: ContentType): string[] {
  const table = quote(getTableName(entry.table));
  const name = getTableName(entry.table);
  const args = [entry.type, String(entry.priority), entry.idColumn.name].map(literal).join(", ");
  const changed = capturedFields(entry)
    .map((c) => quote(c.name))
    .map((f) => `OLD.${f} IS DISTINCT FROM NEW.${f}`)
    .join(" OR ");
  return [
    `DROP TRIGGER IF EXISTS ${quote(`${name}_embedding_capture`)} ON ${table};`,
    `CREATE TRIGGER ${quote(`${name}_embedding_capture`)} AFTER INSERT OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION capture_embedding_change(${args});`,
    `DROP TRIGGER IF EXISTS ${quote(`${name}_embedding_capture_update`)} ON ${table};`,
    `CREATE TRIGGER ${quote(`${name}_embedding_capture_update`)} AFTER UPDATE ON ${table} FOR EACH ROW WHEN (${changed}) EXECUTE FUNCTION capture_embedding_change(${args});`,
  ];
}

/** Triggers on the parent's table that queue the entry's rows when the parent goes or changes visibility. */
function parentTriggers(registry: ContentType[], entry: ContentType): string[] {
  if (!entry.parent) return [];
  const parent = registry.find((e) => e.type === entry.parent!.type)!;
  const table = quote(getTableName(parent.table));
  const name = `${getTableName(parent.table)}_embedding_children_${entry.type}`;
  const args = [
    entry.type,
    getTableName(entry.table),
    entry.idColumn.name,
    entry.parent.foreignKey.name,
    parent.idColumn.name,
    String(parent.priority),
  ]
    .map(literal)
    .join(", ");
  const changed = visibilityFields(parent)
    .map((c) => quote(c.name))
    .map((f) => `OLD.${f} IS DISTINCT FROM NEW.${f}`)
    .join(" OR ");
  return [
    `DROP TRIGGER IF EXISTS ${quote(name)} ON ${table};`,
    `CREATE TRIGGER ${quote(name)} AFTER DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION capture_embedding_children(${args});`,
    `DROP TRIGGER IF EXISTS ${quote(`${name}_update`)} ON ${table};`,
    ...(changed
      ? [
          `CREATE TRIGGER ${quote(`${name}_update`)} AFTER UPDATE ON ${table} FOR EACH ROW WHEN (${changed}) EXECUTE FUNCTION capture_embedding_children(${args});`,
        ]
      : []),
  ];
}

/** The whole change-capture migration for a registry; every statement is idempotent. */
export function captureSql(registry: ContentType[]): string {
  const header = "-- Generated by `npm run db:triggers` from schema/registry.ts. Do not edit.\n";
  const tables = pipelineTables.map((table) => getTableName(table));
  const triggers = registry.flatMap((entry) => [...tableTriggers(entry), ...parentTriggers(registry, entry)]);
  return header + [...[queueFunction, captureFunction, childrenFunction].map(created), ...triggers, ...privileges(tables)].join(BREAKPOINT);
}
