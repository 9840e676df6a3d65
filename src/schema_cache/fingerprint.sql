-- A cheap fingerprint of every catalog row the introspection (introspect.sql) can read, so an
-- executor told "something changed" by a relcache/syscache invalidation keeps its schema cache
-- and prepared plans when nothing the API serves did. Churn that is not DDL leaves it alone:
-- ANALYZE and VACUUM (pg_class statistics, relfrozenxid, relhassubclass), TRUNCATE
-- (relfilenode), CREATE INDEX (index rows, relhasindex), temporary tables (temp namespaces).
-- Only user objects (oid >= 16384, FirstNormalObjectId) are hashed: the system catalogs'
-- own rows do not change. Each row hashes to 64 bits; their sum and count are order-free.
-- Enum labels count (ALTER TYPE ... ADD VALUE sends no invalidation: like a comment, it is read
-- on `NOTIFY pgrst` or with the next invalidation).
-- Privileges (relacl, attacl, proacl, nspacl) and comments (the OpenAPI descriptions) count
-- too; COMMENT sends no invalidation of its own, so a comment is read on `NOTIFY pgrst` or
-- with the next invalidation.
WITH
ns AS NOT MATERIALIZED (
  SELECT n.oid FROM pg_catalog.pg_namespace n
  WHERE n.nspname OPERATOR(pg_catalog.!~) '^pg_(toast_)?temp_'
    AND n.nspname OPERATOR(pg_catalog.<>) 'pg_toast'
),
rel AS NOT MATERIALIZED (
  SELECT c.oid, ROW(c.oid, c.relname, c.relnamespace, c.reltype, c.reloftype,
    c.relowner, c.relkind, c.relacl, c.relrowsecurity, c.relforcerowsecurity, c.relispartition,
    c.reloptions, c.relpersistence, c.relnatts, c.relchecks, c.relhasrules, c.relhastriggers,
    c.relpartbound::pg_catalog.text)::pg_catalog.text AS r
  FROM pg_catalog.pg_class c
  WHERE c.oid OPERATOR(pg_catalog.>=) 16384 AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
    AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,v,m,f,p,S,c}'::pg_catalog."char"[])
    AND c.relnamespace IN (SELECT oid FROM ns)
),
rows AS (
  SELECT r FROM rel
  UNION ALL
  SELECT ROW(a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull,
    a.atthasdef, a.attidentity, a.attgenerated, a.attisdropped, a.attacl)::pg_catalog.text
  FROM pg_catalog.pg_attribute a
  WHERE a.attrelid IN (SELECT oid FROM rel) AND a.attnum OPERATOR(pg_catalog.>) 0
  UNION ALL
  SELECT d::pg_catalog.text FROM pg_catalog.pg_attrdef d WHERE d.adrelid IN (SELECT oid FROM rel)
  UNION ALL
  SELECT w::pg_catalog.text FROM pg_catalog.pg_rewrite w WHERE w.ev_class IN (SELECT oid FROM rel)
  UNION ALL
  SELECT t::pg_catalog.text FROM pg_catalog.pg_trigger t
  WHERE t.tgrelid IN (SELECT oid FROM rel) AND NOT t.tgisinternal
  UNION ALL
  SELECT ROW(k.oid, k.conname, k.connamespace, k.contype, k.conrelid, k.confrelid, k.conkey,
    k.confkey, k.conparentid, k.convalidated)::pg_catalog.text
  FROM pg_catalog.pg_constraint k
  WHERE k.oid OPERATOR(pg_catalog.>=) 16384 AND k.connamespace IN (SELECT oid FROM ns)
  UNION ALL
  SELECT p::pg_catalog.text FROM pg_catalog.pg_proc p
  WHERE p.oid OPERATOR(pg_catalog.>=) 16384 AND p.pronamespace IN (SELECT oid FROM ns)
  UNION ALL
  SELECT t::pg_catalog.text FROM pg_catalog.pg_type t
  WHERE t.oid OPERATOR(pg_catalog.>=) 16384 AND t.typnamespace IN (SELECT oid FROM ns)
    -- row types and arrays follow their relation or element, hashed already
    AND t.typrelid OPERATOR(pg_catalog.=) 0 AND t.typcategory OPERATOR(pg_catalog.<>) 'A'
  UNION ALL
  SELECT e::pg_catalog.text FROM pg_catalog.pg_enum e
  WHERE e.enumtypid OPERATOR(pg_catalog.>=) 16384
  UNION ALL
  SELECT n::pg_catalog.text FROM pg_catalog.pg_namespace n
  WHERE n.oid OPERATOR(pg_catalog.>=) 16384 AND n.oid IN (SELECT oid FROM ns)
  UNION ALL
  SELECT x::pg_catalog.text FROM pg_catalog.pg_extension x
  UNION ALL
  SELECT d::pg_catalog.text FROM pg_catalog.pg_description d WHERE d.objoid OPERATOR(pg_catalog.>=) 16384
)
SELECT pg_catalog.count(*)::pg_catalog.text OPERATOR(pg_catalog.||) '/'
  OPERATOR(pg_catalog.||) pg_catalog.sum(pg_catalog.hashtextextended(r, 0)::pg_catalog.numeric)::pg_catalog.text
FROM rows
