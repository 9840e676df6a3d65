-- The catalog fingerprint (fingerprint.sql) split by relation: every catalog row the
-- introspection reads about a relation (its pg_class row, columns, defaults, rules, triggers,
-- comments, and the constraints where it is either end, so a new foreign key changes both of
-- its tables) hashes into that relation's entry; everything else (functions, types, enum
-- labels, schemas, extensions, domain constraints, other comments) into `global`.
-- $1 text[]: only relations whose name occurs in one of these strings (NULL: all relations);
-- $2 / $3 text[]: and these (schema, name) pairs.
-- Returns {"global": "<count>/<sum>", "relations": [[schema, name, "<count>/<sum>"], ...]}.
WITH
ns AS NOT MATERIALIZED (
  SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n
  WHERE n.nspname OPERATOR(pg_catalog.!~) '^pg_(toast_)?temp_'
    AND n.nspname OPERATOR(pg_catalog.<>) 'pg_toast'
),
rel AS MATERIALIZED (
  SELECT c.oid, ns.nspname, c.relname, ROW(c.oid, c.relname, c.relnamespace, c.reltype, c.reloftype,
    c.relowner, c.relkind, c.relacl, c.relrowsecurity, c.relforcerowsecurity, c.relispartition,
    c.reloptions, c.relpersistence, c.relnatts, c.relchecks, c.relhasrules, c.relhastriggers,
    c.relpartbound::pg_catalog.text)::pg_catalog.text AS r
  FROM pg_catalog.pg_class c JOIN ns ON ns.oid OPERATOR(pg_catalog.=) c.relnamespace
  WHERE c.oid OPERATOR(pg_catalog.>=) 16384 AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
    AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,v,m,f,p,S,c}'::pg_catalog."char"[])
    AND ($1::pg_catalog.text[] IS NULL
      OR EXISTS (SELECT 1 FROM pg_catalog.unnest($1::pg_catalog.text[]) s
                 WHERE pg_catalog.strpos(s, c.relname::pg_catalog.text) OPERATOR(pg_catalog.>) 0)
      OR EXISTS (SELECT 1 FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[]),
                                          pg_catalog.unnest($3::pg_catalog.text[])) p(s, n)
                 WHERE p.s OPERATOR(pg_catalog.=) ns.nspname::pg_catalog.text
                   AND p.n OPERATOR(pg_catalog.=) c.relname::pg_catalog.text))
),
rows(oid, r) AS (
  SELECT oid, r FROM rel
  UNION ALL
  SELECT a.attrelid, ROW(a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull,
    a.atthasdef, a.attidentity, a.attgenerated, a.attisdropped, a.attacl)::pg_catalog.text
  FROM pg_catalog.pg_attribute a
  WHERE a.attrelid IN (SELECT oid FROM rel) AND a.attnum OPERATOR(pg_catalog.>) 0
  UNION ALL
  SELECT d.adrelid, d::pg_catalog.text FROM pg_catalog.pg_attrdef d
  WHERE d.adrelid IN (SELECT oid FROM rel)
  UNION ALL
  SELECT w.ev_class, w::pg_catalog.text FROM pg_catalog.pg_rewrite w
  WHERE w.ev_class IN (SELECT oid FROM rel)
  UNION ALL
  SELECT t.tgrelid, t::pg_catalog.text FROM pg_catalog.pg_trigger t
  WHERE t.tgrelid IN (SELECT oid FROM rel) AND NOT t.tgisinternal
  UNION ALL
  SELECT e.relid, ROW(k.oid, k.conname, k.connamespace, k.contype, k.conrelid, k.confrelid,
    k.conkey, k.confkey, k.conparentid, k.convalidated)::pg_catalog.text
  FROM pg_catalog.pg_constraint k,
    LATERAL (SELECT k.conrelid UNION SELECT k.confrelid) e(relid)
  WHERE k.oid OPERATOR(pg_catalog.>=) 16384 AND e.relid IN (SELECT oid FROM rel)
  UNION ALL
  SELECT d.objoid, d::pg_catalog.text FROM pg_catalog.pg_description d
  WHERE d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
    AND d.objoid IN (SELECT oid FROM rel)
),
global(r) AS (
  SELECT ROW(k.oid, k.conname, k.connamespace, k.contype, k.conrelid, k.confrelid, k.conkey,
    k.confkey, k.conparentid, k.convalidated)::pg_catalog.text
  FROM pg_catalog.pg_constraint k
  WHERE k.oid OPERATOR(pg_catalog.>=) 16384 AND k.connamespace IN (SELECT oid FROM ns)
    AND k.conrelid OPERATOR(pg_catalog.=) 0
  UNION ALL
  SELECT p::pg_catalog.text FROM pg_catalog.pg_proc p
  WHERE p.oid OPERATOR(pg_catalog.>=) 16384 AND p.pronamespace IN (SELECT oid FROM ns)
  UNION ALL
  SELECT t::pg_catalog.text FROM pg_catalog.pg_type t
  WHERE t.oid OPERATOR(pg_catalog.>=) 16384 AND t.typnamespace IN (SELECT oid FROM ns)
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
  SELECT d::pg_catalog.text FROM pg_catalog.pg_description d
  WHERE d.objoid OPERATOR(pg_catalog.>=) 16384
    AND d.classoid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_class'::pg_catalog.regclass
),
hashed AS (
  SELECT oid, pg_catalog.count(*)::pg_catalog.text OPERATOR(pg_catalog.||) '/'
    OPERATOR(pg_catalog.||) pg_catalog.sum(pg_catalog.hashtextextended(r, 0)::pg_catalog.numeric)::pg_catalog.text AS h
  FROM rows GROUP BY oid
)
SELECT pg_catalog.json_build_object(
  'global', (SELECT pg_catalog.count(*)::pg_catalog.text OPERATOR(pg_catalog.||) '/'
    OPERATOR(pg_catalog.||) COALESCE(pg_catalog.sum(pg_catalog.hashtextextended(r, 0)::pg_catalog.numeric), 0)::pg_catalog.text
    FROM global),
  'relations', COALESCE((SELECT pg_catalog.json_agg(pg_catalog.json_build_array(rel.nspname, rel.relname, hashed.h))
    FROM rel JOIN hashed ON hashed.oid OPERATOR(pg_catalog.=) rel.oid), '[]'::pg_catalog.json))
