-- The query API reads; it should not be able to write. `fulfil_api_reader` may read the
-- three tables the API shows and nothing else. It cannot log in: give the API a login
-- role of its own that is a member of it, for example
--   CREATE ROLE fulfil_api LOGIN PASSWORD '...' IN ROLE fulfil_api_reader;
-- (roles belong to the cluster, so a second database on it finds this one already there).
-- `rebuild` grants the same again on the tables it swaps in.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fulfil_api_reader') THEN
        CREATE ROLE fulfil_api_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created meanwhile by a migration of another database of the cluster
END
$$;

GRANT USAGE ON SCHEMA public TO fulfil_api_reader;
GRANT SELECT ON read_orders, read_products, projection_state TO fulfil_api_reader;
