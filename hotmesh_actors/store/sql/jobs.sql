-- Job state queries. `{schema}` is the app's quoted schema; `{engine}` its engine_streams table.

-- name: lock_jobs
-- Lock the live rows of these job keys, in key order (a fixed order keeps concurrent steps deadlock-free).
-- Attributes are read by a separate statement AFTER the lock: under READ COMMITTED a join here would return
-- attribute rows from the snapshot taken before waiting for the lock, missing the previous step's writes.
SELECT id::text AS id, key, status, entity, origin_id, parent_id
FROM {schema}.jobs
WHERE key = ANY($1::text[]) AND (expired_at IS NULL OR expired_at > now())
ORDER BY key
FOR UPDATE;

-- name: load_attributes
SELECT job_id::text AS job_id, field, dimension, value
FROM {schema}.jobs_attributes
WHERE job_id = ANY($1::uuid[]);

-- name: raw_attributes
-- Every stored row of one job (getRaw), encoded as stored.
SELECT field, dimension, value FROM {schema}.jobs_attributes WHERE job_id = $1::uuid;

-- name: find_job
-- The newest row of a job key, live or not (reads: status, state, export).
SELECT id::text AS id, key, status, entity, origin_id, parent_id, created_at, updated_at, expired_at
FROM {schema}.jobs
WHERE key = $1
ORDER BY created_at DESC
LIMIT 1;

-- name: job_status
-- The semaphore of a job's newest row (NULL when the job does not exist).
SELECT status FROM {schema}.jobs WHERE key = $1 ORDER BY created_at DESC LIMIT 1;

-- name: insert_job
-- The BEFORE trigger raises unique_violation ('Duplicate job: <key>') when a live row has this key.
INSERT INTO {schema}.jobs (id, key, entity, origin_id, parent_id, status, expired_at)
VALUES ($1::uuid, $2, $3, $4, $5, $6,
        CASE WHEN $7::float8 IS NULL OR $7::float8 <= 0 THEN NULL ELSE now() + make_interval(secs => $7::float8) END);

-- name: index_insert
-- File a new job ($3 id, $4 jid) under its trigger's stats index facets ($1 stats keys, $2 facets).
INSERT INTO {schema}.job_index (stats_key, facet, job_id, jid)
SELECT e.stats_key, e.facet, $3::uuid, $4
FROM unnest($1::text[], $2::text[]) AS e(stats_key, facet)
ON CONFLICT DO NOTHING;

-- name: index_lookup
-- The running jobs filed under facet $2 of stats key $1 (signal `subtype: all`), oldest first.
SELECT i.jid
FROM {schema}.job_index AS i
JOIN {schema}.jobs AS j ON j.id = i.job_id
WHERE i.stats_key = $1 AND i.facet = $2 AND j.status > 0 AND (j.expired_at IS NULL OR j.expired_at > now())
ORDER BY i.created_at, i.jid;

-- name: index_scrub
-- A single-use index: drop facet $2 of stats key $1 once its jobs were signalled.
DELETE FROM {schema}.job_index WHERE stats_key = $1 AND facet = $2;

-- name: write_state
-- One round trip per step: apply semaphore deltas/expiry ($6-$8, as update_jobs) and upsert attributes ($1-$5).
WITH updated AS (
    UPDATE {schema}.jobs AS j
    SET status = j.status + d.delta,
        expired_at = CASE WHEN d.expire IS NULL THEN j.expired_at
                          WHEN d.expire <= 0 THEN NULL
                          ELSE now() + make_interval(secs => d.expire) END
    FROM unnest($6::uuid[], $7::int[], $8::float8[]) AS d(id, delta, expire)
    WHERE j.id = d.id
    RETURNING 1
)
INSERT INTO {schema}.jobs_attributes (job_id, field, dimension, value, type)
SELECT r.job_id, r.field, r.dimension, r.value, r.type::{schema}.type_enum
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
     AS r(job_id, field, dimension, value, type)
ON CONFLICT (job_id, field, dimension) DO UPDATE
SET value = EXCLUDED.value, updated_at = now();

-- name: notify
-- NOTIFY channel $1[i] with payload $2[i] (delivered at COMMIT).
SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p);

-- name: signal_insert
-- Claim a signal key for a value when no live row holds it; returns the key when inserted.
INSERT INTO {schema}.signal_registry AS s (key, value, expiry)
VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expiry = EXCLUDED.expiry
    WHERE s.expiry IS NOT NULL AND s.expiry <= now()
RETURNING key;

-- name: signal_lock
SELECT value FROM {schema}.signal_registry
WHERE key = $1 AND (expiry IS NULL OR expiry > now())
FOR UPDATE;

-- name: signal_set
UPDATE {schema}.signal_registry SET value = $2, expiry = now() + make_interval(secs => $3) WHERE key = $1;

-- name: signal_delete
DELETE FROM {schema}.signal_registry WHERE key = $1 AND value NOT LIKE '$pending::%';

-- name: disarm_timer
-- Expire a hook's pending timers; rows another step has claimed are skipped (the ledger refuses them).
UPDATE {engine} SET expired_at = now()
WHERE (stream_name, id) IN (
    SELECT stream_name, id FROM {engine}
    WHERE stream_name = $1 AND jid = $2 AND aid = $3 AND dad = $4 AND msg_type = 'timehook'
      AND expired_at IS NULL
    FOR UPDATE SKIP LOCKED);

-- name: delete_job
DELETE FROM {schema}.jobs WHERE key = $1;

-- name: cancel_escalations
-- An interrupted job's open escalations are cancelled in the same transaction (SPEC §2.9).
UPDATE public.hmsh_escalations SET status = 'cancelled', updated_at = now()
WHERE app_id = $1 AND workflow_id = $2 AND status = 'pending';

-- name: prune_jobs
-- Delete jobs (and, by cascade, their attributes) that expired more than $1 seconds ago.
WITH gone AS (
    DELETE FROM {schema}.jobs
    WHERE expired_at IS NOT NULL AND expired_at < now() - make_interval(secs => $1)
    RETURNING 1)
SELECT count(*) FROM gone;

-- name: prune_engine_streams
WITH gone AS (
    DELETE FROM {schema}.engine_streams
    WHERE expired_at IS NOT NULL AND expired_at < now() - make_interval(secs => $1)
    RETURNING 1)
SELECT count(*) FROM gone;

-- name: prune_worker_streams
WITH gone AS (
    DELETE FROM {schema}.worker_streams
    WHERE expired_at IS NOT NULL AND expired_at < now() - make_interval(secs => $1)
    RETURNING 1)
SELECT count(*) FROM gone;

-- name: prune_signals
WITH gone AS (
    DELETE FROM {schema}.signal_registry WHERE expiry IS NOT NULL AND expiry < now()
    RETURNING 1)
SELECT count(*) FROM gone;
