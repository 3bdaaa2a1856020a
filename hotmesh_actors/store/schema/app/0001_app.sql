-- Per-app schema (SPEC §2.2-2.6). `{schema}` is replaced by the app's quoted schema name.
-- jobs_attributes.field holds a readable path (e.g. checkInventory/output/data/availableQty).
CREATE SCHEMA IF NOT EXISTS {schema};

DO $$ BEGIN
    CREATE TYPE {schema}.type_enum AS ENUM ('jmark', 'hmark', 'status', 'jdata', 'adata', 'udata', 'other');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

-- Jobs: one row per job run; `status` is the semaphore. Hash-partitioned by id.
CREATE TABLE IF NOT EXISTS {schema}.jobs (
    id         UUID NOT NULL DEFAULT gen_random_uuid(),
    key        TEXT NOT NULL,
    entity     TEXT,
    origin_id  TEXT,
    parent_id  TEXT,
    status     INTEGER NOT NULL,
    context    JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expired_at TIMESTAMPTZ,
    pruned_at  TIMESTAMPTZ,
    is_live    BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (id)
) PARTITION BY HASH (id);

DO $$ BEGIN
    FOR i IN 0..7 LOOP
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS {schema}.jobs_part_%s PARTITION OF {schema}.jobs '
            'FOR VALUES WITH (MODULUS 8, REMAINDER %s) WITH (fillfactor = 70)', i, i);
    END LOOP;
END $$;

CREATE INDEX IF NOT EXISTS jobs_key_expired_idx ON {schema}.jobs (key, expired_at) INCLUDE (is_live);
CREATE INDEX IF NOT EXISTS idx_jobs_key_live ON {schema}.jobs (key) WHERE is_live;
CREATE INDEX IF NOT EXISTS jobs_entity_idx ON {schema}.jobs (entity) INCLUDE (status);
CREATE INDEX IF NOT EXISTS jobs_expired_at_idx ON {schema}.jobs (expired_at);
CREATE INDEX IF NOT EXISTS jobs_origin_idx ON {schema}.jobs (origin_id) WHERE origin_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_parent_idx ON {schema}.jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_context_idx ON {schema}.jobs USING GIN (context);

-- A key may have many expired rows but only one live row. A partitioned table cannot carry a unique
-- index on a non-partition column, so a trigger serialises writers per key and checks.
CREATE OR REPLACE FUNCTION {schema}.enforce_live_job_uniqueness() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.is_live := NEW.expired_at IS NULL OR NEW.expired_at > now();
    IF NEW.is_live AND (TG_OP = 'INSERT' OR OLD.key IS DISTINCT FROM NEW.key OR NOT OLD.is_live) THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(NEW.key, 0));
        IF EXISTS (SELECT 1 FROM {schema}.jobs j
                   WHERE j.key = NEW.key AND j.is_live AND j.id <> NEW.id
                     AND (j.expired_at IS NULL OR j.expired_at > now())) THEN
            RAISE EXCEPTION 'Duplicate job: %', NEW.key USING ERRCODE = 'unique_violation';
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $fn$;

DROP TRIGGER IF EXISTS trg_enforce_live_job_uniqueness ON {schema}.jobs;
CREATE TRIGGER trg_enforce_live_job_uniqueness BEFORE INSERT OR UPDATE ON {schema}.jobs
    FOR EACH ROW EXECUTE FUNCTION {schema}.enforce_live_job_uniqueness();

-- Job state, one row per (job, readable field path, dimension).
CREATE TABLE IF NOT EXISTS {schema}.jobs_attributes (
    job_id     UUID NOT NULL REFERENCES {schema}.jobs (id) ON DELETE CASCADE,
    field      TEXT NOT NULL,
    dimension  TEXT NOT NULL DEFAULT '',
    value      TEXT,
    type       {schema}.type_enum NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, field, dimension)
) PARTITION BY HASH (job_id);

DO $$ BEGIN
    FOR i IN 0..7 LOOP
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS {schema}.jobs_attributes_part_%s PARTITION OF {schema}.jobs_attributes '
            'FOR VALUES WITH (MODULUS 8, REMAINDER %s) WITH (fillfactor = 70)', i, i);
    END LOOP;
END $$;

CREATE INDEX IF NOT EXISTS jobs_attributes_type_field_idx ON {schema}.jobs_attributes (type, field);
CREATE INDEX IF NOT EXISTS jobs_attributes_field_idx ON {schema}.jobs_attributes (field);

-- Key-value tables (SPEC §2.2) the engine needs.
CREATE TABLE IF NOT EXISTS {schema}.roles (
    key TEXT PRIMARY KEY, value TEXT, expiry TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS {schema}.signal_registry (
    key TEXT PRIMARY KEY, value TEXT, expiry TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS signal_registry_expiry_idx ON {schema}.signal_registry (expiry) WHERE expiry IS NOT NULL;
CREATE TABLE IF NOT EXISTS {schema}.throttles (
    key TEXT NOT NULL, field TEXT NOT NULL, value TEXT, expiry TIMESTAMPTZ, PRIMARY KEY (key, field)
);
CREATE TABLE IF NOT EXISTS {schema}.versions (
    key TEXT NOT NULL, field TEXT NOT NULL, value TEXT, expiry TIMESTAMPTZ, PRIMARY KEY (key, field)
);
