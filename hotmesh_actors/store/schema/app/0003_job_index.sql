-- Trigger `stats` index measures, looked up by the signal activity's `subtype: all` (SPEC §3.4).

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
