-- The schema cache in one query: $1 = text[] of exposed schemas; returns one json value
-- ({"tables", "foreign_keys", "functions", "computed_columns", "computed_relationships",
-- "postgis_schema")
-- matching model::SchemaCache.
-- Type names are schema-qualified outside pg_catalog so that casts (`$1::<data_type>`) work
-- whatever the search_path of the request is.
-- Functions are schema-qualified, and the query runs with search_path = pg_catalog, pg_temp:
-- nothing a tenant defines (e.g. public.unnest(smallint[])) is ever called from here.
-- The catalog CTEs are NOT MATERIALIZED so the planner uses the catalogs' statistics and
-- indexes: materialized, their row estimates explode and push the cost past jit_above_cost
-- (JIT compilation then takes seconds).
WITH
exposed AS NOT MATERIALIZED (
  SELECT n.oid, n.nspname
  FROM pg_catalog.pg_namespace n
  WHERE n.nspname = ANY ($1::text[])
),
typ AS NOT MATERIALIZED (
  SELECT t.oid,
    CASE
      WHEN n.nspname = 'pg_catalog' THEN pg_catalog.format_type(t.oid, NULL)
      WHEN et.oid IS NOT NULL AND en.nspname = 'pg_catalog' THEN pg_catalog.format_type(t.oid, NULL)
      WHEN et.oid IS NOT NULL THEN pg_catalog.quote_ident(en.nspname) || '.' || pg_catalog.quote_ident(et.typname) || '[]'
      ELSE pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.typname)
    END AS name,
    CASE
      WHEN t.typcategory = 'A' THEN 'ARRAY'
      WHEN n.nspname <> 'pg_catalog' THEN 'USER-DEFINED'
      ELSE pg_catalog.format_type(t.oid, NULL)
    END AS nominal,
    t.typtype, t.typrelid
  FROM pg_catalog.pg_type t
  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
  LEFT JOIN pg_catalog.pg_type et ON et.oid = t.typelem AND t.typcategory = 'A' AND t.typlen = -1
  LEFT JOIN pg_catalog.pg_namespace en ON en.oid = et.typnamespace
),
rels AS (
  SELECT c.oid, e.nspname AS schema, c.relname AS name, c.relkind::text AS kind, c.reltype,
    CASE WHEN c.relkind IN ('r', 'p') THEN 28 ELSE pg_catalog.pg_relation_is_updatable(c.oid, true) END AS upd
  FROM pg_catalog.pg_class c
  JOIN exposed e ON e.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p')
),
cols AS (
  SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.attgenerated, a.attidentity
  FROM pg_catalog.pg_attribute a
  WHERE a.attrelid IN (SELECT oid FROM rels) AND a.attnum > 0 AND NOT a.attisdropped
),
-- View columns that are plain references to a column of another relation, from the view's
-- rewrite rule: target entries whose expression is a Var carry resorigtbl/resorigcol. The node
-- text is split at each such entry (much cheaper than one regex over the whole text); only
-- entries of the view query's own target list count, i.e. those at brace depth 1 (entries of
-- subqueries and sublinks are deeper). Depth = running sum of the braces of the chunks before,
-- plus the two braces each separator opens. (Constants are printed as bytes; only names could
-- hold a brace, escaped, and an unbalanced one in a name is not worth a slower count.)
view_refs AS (
  SELECT x.view_oid, (x.m)[1]::int AS resno, (x.m)[2]::oid AS origtbl, (x.m)[3]::int AS origcol
  FROM (
    SELECT c.view_oid, c.ord,
      pg_catalog.regexp_match(pg_catalog.left(c.chunk, 1000),
        '^[^{}]*\} :resno (\d+) (?:[^{}\\]|\\.)* :resorigtbl (\d+) :resorigcol (\d+)') AS m,
      coalesce(pg_catalog.sum(c.balance) OVER (PARTITION BY c.view_oid ORDER BY c.ord
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
        + 2 * (c.ord - 2) AS depth
    FROM (
      SELECT r.ev_class AS view_oid, s.ord, s.chunk,
        pg_catalog.length(pg_catalog.translate(s.chunk, '}', '')) - pg_catalog.length(pg_catalog.translate(s.chunk, '{', '')) AS balance
      FROM pg_catalog.pg_rewrite r
      JOIN pg_catalog.pg_class vc ON vc.oid = r.ev_class AND vc.relkind IN ('v', 'm')
      CROSS JOIN LATERAL pg_catalog.unnest(pg_catalog.string_to_array(r.ev_action::text, '{TARGETENTRY :expr {VAR '))
        WITH ORDINALITY AS s(chunk, ord)
      WHERE r.rulename = '_RETURN'
        -- views in private schemas count too (views over views), the catalogs' own views do not
        AND vc.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
    ) c
  ) x
  WHERE x.ord > 1 AND x.depth = 1 AND x.m IS NOT NULL AND (x.m)[2]::oid <> 0
),
-- (view column) -> (base table column), following views over views.
view_cols AS (
  WITH RECURSIVE chain AS (
    SELECT v.view_oid, v.resno, v.origtbl, v.origcol, 1 AS depth
    FROM view_refs v
    UNION ALL
    SELECT c.view_oid, c.resno, v.origtbl, v.origcol, c.depth + 1
    FROM chain c
    JOIN view_refs v ON v.view_oid = c.origtbl AND v.resno = c.origcol
    WHERE c.depth < 6
  )
  SELECT DISTINCT ON (view_oid, resno) view_oid, resno AS view_col, origtbl AS base_oid, origcol AS base_col
  FROM chain
  ORDER BY view_oid, resno, depth DESC
),
-- For each exposed view: the base table columns it exposes (the first view column wins when
-- a base column appears twice).
view_map AS (
  SELECT DISTINCT ON (view_oid, base_oid, base_col) view_oid, view_col, base_oid, base_col
  FROM view_cols
  WHERE view_oid IN (SELECT oid FROM rels)
  ORDER BY view_oid, base_oid, base_col, view_col
),
fks AS (
  SELECT con.oid, con.conname, con.conrelid, con.confrelid, con.conkey, con.confkey
  FROM pg_catalog.pg_constraint con
  -- conparentid: the copies Postgres makes of a foreign key for each partition
  WHERE con.contype = 'f' AND con.conparentid = 0
),
-- Column sets of base tables: primary keys ('p'), unique constraints ('u'), and both sides of
-- foreign keys ('from' the constrained columns, 'to' the referenced ones).
key_sets AS (
  SELECT con.oid AS con_oid, con.contype::text AS kind, con.conrelid AS base_oid, con.conkey AS key
  FROM pg_catalog.pg_constraint con
  WHERE con.contype IN ('p', 'u') AND con.conparentid = 0
  UNION ALL
  SELECT f.oid, 'from', f.conrelid, f.conkey FROM fks f
  UNION ALL
  SELECT f.oid, 'to', f.confrelid, f.confkey FROM fks f
),
-- The same column sets by name, seen from the tables themselves and from every exposed view
-- that exposes all their columns.
rel_keys AS (
  SELECT k.con_oid, k.kind, k.base_oid AS rel_oid,
    ARRAY(
      SELECT a.attname
      FROM pg_catalog.unnest(k.key) WITH ORDINALITY AS u(attnum, ord)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = k.base_oid AND a.attnum = u.attnum
      ORDER BY u.ord) AS cols
  FROM key_sets k
  WHERE k.base_oid IN (SELECT oid FROM rels)
  UNION ALL
  SELECT k.con_oid, k.kind, m.view_oid, pg_catalog.array_agg(a.attname ORDER BY u.ord)
  FROM key_sets k
  CROSS JOIN LATERAL pg_catalog.unnest(k.key) WITH ORDINALITY AS u(attnum, ord)
  JOIN view_map m ON m.base_oid = k.base_oid AND m.base_col = u.attnum
  JOIN pg_catalog.pg_attribute a ON a.attrelid = m.view_oid AND a.attnum = m.view_col
  GROUP BY k.con_oid, k.kind, m.view_oid, k.key
  HAVING pg_catalog.count(*) = pg_catalog.cardinality(k.key)
),
fk_json AS (
  SELECT pg_catalog.json_build_object(
    'name', f.conname,
    'schema', r1.schema, 'table', r1.name, 'columns', a.cols,
    'ref_schema', r2.schema, 'ref_table', r2.name, 'ref_columns', b.cols
  ) AS j
  FROM fks f
  JOIN rel_keys a ON a.con_oid = f.oid AND a.kind = 'from'
  JOIN rel_keys b ON b.con_oid = f.oid AND b.kind = 'to'
  JOIN rels r1 ON r1.oid = a.rel_oid
  JOIN rels r2 ON r2.oid = b.rel_oid
  ORDER BY r1.schema, r1.name, f.conname, r2.name
),
col_json AS (
  SELECT c.attrelid, pg_catalog.json_agg(pg_catalog.json_build_object(
      'name', c.attname,
      'data_type', t.name,
      'nominal_type', t.nominal,
      'nullable', NOT c.attnotnull,
      -- identity columns: the nextval() a serial column would have (missing=default uses it)
      -- (a stored generated column's expression is not a default)
      'default', coalesce(CASE WHEN c.attgenerated = '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END,
        CASE WHEN c.attidentity <> '' THEN pg_catalog.format('nextval(%L::regclass)',
          pg_catalog.pg_get_serial_sequence(pg_catalog.quote_ident(r.schema) || '.' || pg_catalog.quote_ident(r.name), c.attname))
        END),
      'generated', c.attgenerated = 's' OR c.attidentity = 'a',
      'position', c.attnum,
      -- for the OpenAPI description
      'description', pg_catalog.col_description(c.attrelid, c.attnum),
      'max_length', CASE WHEN c.atttypid IN ('pg_catalog.bpchar'::regtype, 'pg_catalog.varchar'::regtype)
        AND c.atttypmod > 4 THEN c.atttypmod - 4 END,
      'enum', (SELECT json_agg(en.enumlabel ORDER BY en.enumsortorder)
               FROM pg_catalog.pg_enum en WHERE en.enumtypid = c.atttypid)
    ) ORDER BY c.attnum) AS j
  FROM cols c
  JOIN rels r ON r.oid = c.attrelid
  JOIN typ t ON t.oid = c.atttypid
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.attrelid AND d.adnum = c.attnum
  GROUP BY c.attrelid
),
key_json AS (
  SELECT k.rel_oid,
    pg_catalog.json_agg(k.cols) FILTER (WHERE k.kind = 'p') -> 0 AS pk,
    pg_catalog.json_agg(k.cols ORDER BY k.cols) FILTER (WHERE k.kind = 'u') AS uniques
  FROM rel_keys k
  WHERE k.kind IN ('p', 'u')
  GROUP BY k.rel_oid
),
table_json AS (
  SELECT pg_catalog.json_build_object(
    'schema', r.schema,
    'name', r.name,
    'kind', r.kind,
    'insertable', (r.upd & 8) = 8,
    'updatable', (r.upd & 4) = 4,
    'deletable', (r.upd & 16) = 16,
    'columns', coalesce(c.j, '[]'),
    'pk', coalesce(k.pk, '[]'),
    'uniques', coalesce(k.uniques, '[]'),
    'description', pg_catalog.obj_description(r.oid, 'pg_class')
  ) AS j
  FROM rels r
  LEFT JOIN col_json c ON c.attrelid = r.oid
  LEFT JOIN key_json k ON k.rel_oid = r.oid
  ORDER BY r.schema, r.name
),
procs AS NOT MATERIALIZED (
  SELECT p.oid, e.nspname, p.proname, p.pronargs, p.pronargdefaults, p.prorettype, p.proretset,
    p.provolatile, p.proallargtypes, p.proargtypes, p.proargmodes, p.proargnames, p.prorows
  FROM pg_catalog.pg_proc p
  JOIN exposed e ON e.oid = p.pronamespace
  WHERE p.prokind = 'f'
),
args AS (
  SELECT p.oid, a.ord, a.typ, a.mode, coalesce(p.proargnames[a.ord], '') AS name,
    pg_catalog.count(*) FILTER (WHERE a.mode IN ('i', 'b', 'v')) OVER (PARTITION BY p.oid ORDER BY a.ord) AS in_pos,
    p.pronargs, p.pronargdefaults
  FROM procs p
  CROSS JOIN LATERAL ROWS FROM (
      pg_catalog.unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])),
      pg_catalog.unnest(coalesce(p.proargmodes, pg_catalog.array_fill('i'::"char", ARRAY[p.pronargs]))))
    WITH ORDINALITY AS a(typ, mode, ord)
),
arg_json AS (
  SELECT a.oid,
    pg_catalog.json_agg(pg_catalog.json_build_object(
      'name', a.name, 'data_type', t.name,
      'has_default', a.in_pos > a.pronargs - a.pronargdefaults,
      'variadic', a.mode = 'v'
    ) ORDER BY a.ord) FILTER (WHERE a.mode IN ('i', 'b', 'v')) AS ins,
    pg_catalog.json_agg(pg_catalog.json_build_object(
      'name', a.name, 'data_type', t.name, 'has_default', false, 'variadic', false
    ) ORDER BY a.ord) FILTER (WHERE a.mode IN ('o', 'b', 't')) AS outs
  FROM args a
  JOIN typ t ON t.oid = a.typ
  GROUP BY a.oid
),
function_json AS (
  SELECT pg_catalog.json_build_object(
    'schema', p.nspname,
    'name', p.proname,
    'oid', p.oid::bigint,
    'args', coalesce(a.ins, '[]'),
    'out_args', coalesce(a.outs, '[]'),
    'return_type', rt.name,
    'returns_set', p.proretset,
    'return_table', CASE WHEN rc.oid IS NOT NULL THEN pg_catalog.json_build_array(rn.nspname, rc.relname) END,
    'returns_composite', rt.typtype = 'c'
      OR (p.prorettype = 'pg_catalog.record'::regtype AND a.outs IS NOT NULL),
    'volatility', p.provolatile::text,
    'description', pg_catalog.obj_description(p.oid, 'pg_proc')
  ) AS j
  FROM procs p
  JOIN typ rt ON rt.oid = p.prorettype
  LEFT JOIN arg_json a ON a.oid = p.oid
  LEFT JOIN pg_catalog.pg_class rc ON rc.oid = rt.typrelid AND rc.relkind IN ('r', 'v', 'm', 'f', 'p')
  LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
  ORDER BY p.nspname, p.proname, p.oid
),
-- Computed columns: functions of a relation's schema taking its row as their only argument.
computed_json AS (
  SELECT pg_catalog.json_build_object(
    'schema', r.schema, 'table', r.name, 'name', p.proname, 'data_type', t.name
  ) AS j
  FROM procs p
  JOIN rels r ON r.reltype = p.proargtypes[0] AND r.schema = p.nspname
  JOIN typ t ON t.oid = p.prorettype
  WHERE p.pronargs = 1 AND NOT p.proretset
  ORDER BY r.schema, r.name, p.proname
),
-- Computed relationships: functions taking a relation's row and returning rows of a relation
-- (embedded by the function's name). `ROWS 1` makes a set-returning one to-one.
computed_rel_json AS (
  SELECT pg_catalog.json_build_object(
    'schema', r.schema, 'table', r.name, 'function', p.proname,
    'target_schema', tr.schema, 'target_table', tr.name,
    'to_one', NOT p.proretset OR p.prorows = 1
  ) AS j
  FROM procs p
  JOIN rels r ON r.reltype = p.proargtypes[0] AND r.schema = p.nspname
  JOIN rels tr ON tr.reltype = p.prorettype
  WHERE p.pronargs = 1
  ORDER BY r.schema, r.name, p.proname
)
SELECT pg_catalog.json_build_object(
  'postgis_schema', (SELECT n.nspname FROM pg_catalog.pg_extension x
                     JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace
                     WHERE x.extname = 'postgis'),
  'computed_relationships', coalesce((SELECT pg_catalog.json_agg(j) FROM computed_rel_json), '[]'),
  'computed_columns', coalesce((SELECT pg_catalog.json_agg(j) FROM computed_json), '[]'),
  'tables', coalesce((SELECT pg_catalog.json_agg(j) FROM table_json), '[]'),
  'foreign_keys', coalesce((SELECT pg_catalog.json_agg(j) FROM fk_json), '[]'),
  'functions', coalesce((SELECT pg_catalog.json_agg(j) FROM function_json), '[]')
)
