-- What CREATE EXTENSION serendb_data_api installs: the auth schema and its functions, the API
-- roles, and the default privileges of the `authenticated` role on schema public.

CREATE SCHEMA IF NOT EXISTS auth;

-- The claims of the current request (set transaction-locally by the API, or by any client that
-- sets request.jwt.claims). nullif: after a transaction that SET LOCAL the claims,
-- current_setting() returns '' rather than NULL.
CREATE FUNCTION auth.session() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb $$;

-- The `sub` claim of the current request, NULL when there is none.
CREATE FUNCTION auth.user_id() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub' $$;

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
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anonymous') THEN
    CREATE ROLE anonymous NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticator') THEN
    CREATE ROLE authenticator NOLOGIN NOINHERIT;
  END IF;
END
$roles$;

-- The API may only switch to roles granted to the authenticator.
GRANT authenticated TO authenticator;
GRANT anonymous TO authenticator;

GRANT USAGE ON SCHEMA auth TO authenticated, anonymous;
GRANT EXECUTE ON FUNCTION auth.user_id(), auth.session(), auth.jwt(), auth.uid(),
  auth.organization(), auth.organization_id() TO authenticated, anonymous;

-- The seed's default privileges for `authenticated` on schema public.
GRANT USAGE ON SCHEMA public TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO authenticated;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO authenticated;
