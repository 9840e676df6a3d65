-- What CREATE EXTENSION serendb_data_api installs: the auth schema and its functions, the API
-- roles, and the default privileges of the `authenticated` role on schema public.

CREATE SCHEMA IF NOT EXISTS auth;

-- Names are schema-qualified: the functions run with their caller's search_path.

-- The claims of the current request (set transaction-locally by the API, or by any client that
-- sets request.jwt.claims). nullif: after a transaction that SET LOCAL the claims,
-- current_setting() returns '' rather than NULL.
CREATE FUNCTION auth.session() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb $$;

-- The `sub` claim of the current request, NULL when there is none.
CREATE FUNCTION auth.user_id() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb
  OPERATOR(pg_catalog.->>) 'sub' $$;

-- The pg_session_jwt-compatible rest of the surface, so policies written for Neon's
-- extension (and drizzle-orm's generated SQL) port unchanged.

-- Alias of auth.session().
CREATE FUNCTION auth.jwt() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT auth.session() $$;

-- The `sub` claim as uuid; NULL when there is none or it is no uuid (never an error, so a
-- policy comparing it with a uuid column simply matches nothing).
CREATE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN s ~ '^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$'
              THEN s::uuid END
  FROM (SELECT auth.session() ->> 'sub') AS t(s)
$$;

-- The active organization: Neon Auth's (Better Auth organization plugin) `o` claim
-- ({"id", "slug", "role"}) when it is an object, else Stack Auth's `selected_team_id` as
-- {"id": ...}; NULL when the token has neither.
CREATE FUNCTION auth.organization() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT CASE
    WHEN jsonb_typeof(c -> 'o') = 'object' THEN c -> 'o'
    WHEN jsonb_typeof(c -> 'selected_team_id') = 'string'
      THEN jsonb_build_object('id', c -> 'selected_team_id')
  END
  FROM (SELECT auth.session()) AS t(c)
$$;

-- auth.organization()'s id as uuid; NULL when absent or no uuid.
CREATE FUNCTION auth.organization_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN s ~ '^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$'
              THEN s::uuid END
  FROM (SELECT auth.organization() ->> 'id') AS t(s)
$$;

-- Roles are cluster-wide: create them only when missing, so a second database (or a re-create
-- of the extension) does not fail.
-- `authenticator` is the executors' own session user (see README, "Trust model"): a background
-- worker on PG15 can only connect as a role with LOGIN. It has no password, so no client can log
-- in as it through password authentication; background workers never go through pg_hba.
-- NOINHERIT: it holds no privileges of the roles it may switch to until it switches.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'anonymous') THEN
    CREATE ROLE anonymous NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticator') THEN
    CREATE ROLE authenticator LOGIN NOINHERIT;
  ELSIF NOT (SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = 'authenticator') THEN
    -- created NOLOGIN by an earlier version
    ALTER ROLE authenticator LOGIN;
  END IF;
  -- A request cannot hold an executor forever: the hosted Data APIs' defaults, unless the
  -- roles already have a statement_timeout of their own.
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s
                 CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(cfg)
                 WHERE s.setrole = 'authenticated'::regrole AND c.cfg LIKE 'statement\_timeout=%') THEN
    ALTER ROLE authenticated SET statement_timeout = '8s';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s
                 CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(cfg)
                 WHERE s.setrole = 'anonymous'::regrole AND c.cfg LIKE 'statement\_timeout=%') THEN
    ALTER ROLE anonymous SET statement_timeout = '3s';
  END IF;
END
$roles$;

-- The API may only switch to roles granted to the authenticator.
GRANT authenticated TO authenticator;
GRANT anonymous TO authenticator;

-- Every role that writes tables and policies (the database owner included) may use the auth
-- functions, e.g. in `DEFAULT (auth.user_id())`: they only read the request's own settings.
GRANT USAGE ON SCHEMA auth TO PUBLIC;
GRANT EXECUTE ON FUNCTION auth.user_id(), auth.session(), auth.jwt(), auth.uid(),
  auth.organization(), auth.organization_id() TO PUBLIC;

-- The seed's default privileges for `authenticated` on schema public.
GRANT USAGE ON SCHEMA public TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO authenticated;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO authenticated;
