import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
let t=Date.now();
const pg = await PGlite.create({ extensions: { vector } });
console.log('create', Date.now()-t); t=Date.now();
await pg.exec('create extension if not exists vector; create table e(id int, v vector(3)); create index on e using hnsw (v vector_cosine_ops)');
await pg.query("insert into e values (1, $1)", ['[1,2,3]']);
console.log((await pg.query("select v <=> '[1,2,3]' d, extversion from e, pg_extension where extname='vector'")).rows);
t=Date.now(); const c = await pg.clone(); console.log('clone', Date.now()-t, (await c.query('select count(*) from e')).rows);
