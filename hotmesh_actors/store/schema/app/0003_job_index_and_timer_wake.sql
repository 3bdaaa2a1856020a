-- Trigger `stats` index measures (SPEC §3.4 signal `subtype: all`) and a wake-up for delayed engine rows.

-- One row per (stats key, facet, job): a trigger whose `stats.measures` holds `{measure: index, target}`
-- files the new job under the facet `<target field>:<value>` within its resolved `stats.key`. The signal
-- activity's `subtype: all` finds the jobs to resume here (`key_name:key_value` is the facet); `scrub`
-- deletes the facet's rows once used. Rows go with their job (cascade on prune/scrub).
CREATE TABLE IF NOT EXISTS {schema}.job_index (
    stats_key  TEXT NOT NULL,
    facet      TEXT NOT NULL,
    job_id     UUID NOT NULL REFERENCES {schema}.jobs (id) ON DELETE CASCADE,
    jid        TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (stats_key, facet, job_id)
);
CREATE INDEX IF NOT EXISTS job_index_job_idx ON {schema}.job_index (job_id);

-- Engine streams: NOTIFY for delayed rows too. A timer armed by a `pub` (the trigger's step runs in the
-- caller, not in an engine) or by another process otherwise reaches no engine until its fallback poll;
-- an engine woken early claims nothing and sleeps until the row's `visible_at` (its next-wake query).
CREATE OR REPLACE FUNCTION {schema}.notify_engine_stream_insert() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    name TEXT;
BEGIN
    FOR name IN SELECT DISTINCT stream_name FROM new_rows LOOP
        PERFORM pg_notify(left('eng_' || name, 63),
                          json_build_object('stream_name', name, 'table_type', 'engine')::text);
    END LOOP;
    RETURN NULL;
END $fn$;
