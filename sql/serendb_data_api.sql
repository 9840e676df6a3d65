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
GRANT EXECUTE ON FUNCTION auth.user_id(), auth.session() TO authenticated, anonymous;

-- The seed's default privileges for `authenticated` on schema public.
GRANT USAGE ON SCHEMA public TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO authenticated;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO authenticated;
