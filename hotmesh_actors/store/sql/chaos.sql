-- The chaos kit's effect log and the stream counts its report reads. `{schema}` is the app's quoted schema.
-- The log has NO unique key on purpose: an effect committed twice for one step is two rows, and counted.

-- name: create_effect_log
CREATE TABLE IF NOT EXISTS {schema}.hmsh_chaos_log (
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('call', 'effect')),
    job_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    dimension TEXT NOT NULL,
    pid INT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- name: create_effect_log_index
CREATE INDEX IF NOT EXISTS hmsh_chaos_log_run ON {schema}.hmsh_chaos_log (run_id, kind, job_id, activity_id);

-- name: record
-- One row: kind 'call' (a callback started) or 'effect' (a step's effect committed).
INSERT INTO {schema}.hmsh_chaos_log (run_id, kind, job_id, activity_id, dimension, pid)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: summary
-- Rows and distinct steps (job, activity, dimension) of run $1, per kind.
SELECT count(*) FILTER (WHERE kind = 'effect') AS effects,
       count(DISTINCT (job_id, activity_id, dimension)) FILTER (WHERE kind = 'effect') AS effect_steps,
       count(*) FILTER (WHERE kind = 'call') AS calls,
       count(DISTINCT (job_id, activity_id, dimension)) FILTER (WHERE kind = 'call') AS call_steps
FROM {schema}.hmsh_chaos_log
WHERE run_id = $1;

-- name: doubled
-- Steps of run $1 whose effect was committed more than once: how many, and the first $2 of them.
WITH doubled AS (
    SELECT job_id, activity_id, dimension, count(*) AS times
    FROM {schema}.hmsh_chaos_log
    WHERE run_id = $1 AND kind = 'effect'
    GROUP BY job_id, activity_id, dimension
    HAVING count(*) > 1
)
SELECT (SELECT count(*) FROM doubled) AS total, job_id, activity_id, dimension, times
FROM doubled
ORDER BY job_id, activity_id, dimension
LIMIT $2;

-- name: stream_health
-- Stream rows of the app not yet acked (live: queued, leased or delayed) and rows parked as dead letters.
SELECT (SELECT count(*) FROM {schema}.engine_streams WHERE expired_at IS NULL)
     + (SELECT count(*) FROM {schema}.worker_streams WHERE expired_at IS NULL) AS live,
       (SELECT count(*) FROM {schema}.engine_streams WHERE dead_lettered_at IS NOT NULL AND created_at >= $1)
     + (SELECT count(*) FROM {schema}.worker_streams WHERE dead_lettered_at IS NOT NULL AND created_at >= $1)
       AS dead_lettered;
