-- Which app owns each per-app schema. app_schema() folds case and punctuation ('Orders', 'orders' and
-- 'or-ders' would all map to one schema), so the first app to migrate a schema claims it and others are refused.
CREATE TABLE IF NOT EXISTS public.hmsh_app_schemas (
    schema_name TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL UNIQUE,
    claimed_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
