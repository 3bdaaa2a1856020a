-- Job reads and the statements a step's effects add to its transaction. `{schema}` is the app's quoted
-- schema; `{engine}` / `{worker}` its stream tables.

-- name: find_job
-- A job's row (reads: status, state, export), live or not.
SELECT id::text AS id, key, status, rev, state::text AS state, entity, origin_id, parent_id, created_at,
       updated_at, expired_at
FROM {schema}.jobs
WHERE key = $1;

-- name: job_status
-- The semaphore of a job (NULL when the job does not exist).
SELECT status FROM {schema}.jobs WHERE key = $1;

-- name: notify
-- NOTIFY channel $1[i] with payload $2[i] (delivered at COMMIT).
SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p);

-- name: register_signal
-- A hook registers its signal key $1 → target $2 for $3 seconds. A signal that arrived first (stored as
-- `$pending::<message>`) is re-published to the engine stream ($4) in the same statement, keyed for
-- in-order delivery by the registry key, to be routed to this registration (SPEC §2.8).
-- A pending signal this statement's snapshot could not see (stored by a route that committed while this
-- statement waited on its row) is never overwritten: the upsert then does nothing, and the step runs this
-- statement a second time in its transaction (store/jobs.py `register_signal_statements`), whose fresh
-- snapshot sees the signal and re-publishes it. When the first run registered, the second changes nothing.
WITH earlier AS (
    SELECT value FROM {schema}.signal_registry
    WHERE key = $1 AND (expiry IS NULL OR expiry > now())
    FOR UPDATE),
registered AS (
    INSERT INTO {schema}.signal_registry AS s (key, value, expiry)
    VALUES ($1, $2, now() + make_interval(secs => $3))
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expiry = EXCLUDED.expiry
        WHERE (left(s.value, 10) <> '$pending::' OR (s.expiry IS NOT NULL AND s.expiry <= now())
               OR s.value IN (SELECT value FROM earlier))
          AND (s.value, s.expiry) IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.expiry)
    RETURNING 1)
INSERT INTO {engine} (stream_name, msg_type, topic, message, priority)
SELECT $4, 'webhook', $1, substr(e.value, 11), 5
FROM earlier AS e, registered
WHERE left(e.value, 10) = '$pending::';

-- name: signal_route
-- Where a signal with registry key $1 goes: the live registration's value, locked for this transaction; if
-- none, the signal ($2: `$pending::<message>`) is stored for $3 seconds until a hook registers. Returns the
-- registration, or NULL with `stored` 1 when the signal was stored. NULL with `stored` 0 means neither: a
-- registration committed while this statement waited on its row (this snapshot did not see it), so the
-- caller routes again (store/jobs.py `route_signal`).
WITH live AS (
    SELECT value FROM {schema}.signal_registry
    WHERE key = $1 AND (expiry IS NULL OR expiry > now()) AND left(value, 10) <> '$pending::'
    FOR UPDATE),
stored AS (
    INSERT INTO {schema}.signal_registry AS s (key, value, expiry)
    SELECT $1, $2, now() + make_interval(secs => $3) WHERE NOT EXISTS (SELECT 1 FROM live)
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expiry = EXCLUDED.expiry
        WHERE left(s.value, 10) = '$pending::' OR (s.expiry IS NOT NULL AND s.expiry <= now())
    RETURNING 1)
SELECT (SELECT value FROM live) AS registration, (SELECT count(*) FROM stored)::int AS stored;

-- name: signal_check
-- The registration a routed signal was sent to ($2) still holds key $1 (locked until the step commits).
SELECT 1 FROM {schema}.signal_registry
WHERE key = $1 AND value = $2 AND (expiry IS NULL OR expiry > now())
FOR UPDATE;

-- name: delete_signal
DELETE FROM {schema}.signal_registry WHERE key = $1 AND left(value, 10) <> '$pending::';

-- name: disarm_timer
-- Delete a hook's pending timers (stream $1, job $2, activity $3, dimension $4); rows another step holds
-- are skipped (the ledger refuses them).
DELETE FROM {engine}
WHERE id IN (
    SELECT id FROM {engine}
    WHERE jid = $2 AND aid = $3 AND stream_name = $1 AND dad = $4 AND msg_type = 'timehook'
      AND expired_at IS NULL
    FOR UPDATE SKIP LOCKED);

-- name: signal_all
-- The signal activity's `subtype: all`: one webhook per running job filed under facet $2 of stats key $1,
-- built from the template message $4 (its data gets the job id as `id`, the field hook rules match on; each
-- copy a guid of its own), published to engine stream $3. With $5 the facet's index rows are deleted.
WITH targets AS (
    SELECT i.jid FROM {schema}.job_index AS i
    JOIN {schema}.jobs AS j ON j.id = i.job_id
    WHERE i.stats_key = $1 AND i.facet = $2 AND j.status > 0 AND (j.expired_at IS NULL OR j.expired_at > now())),
scrubbed AS (
    DELETE FROM {schema}.job_index WHERE $5 AND stats_key = $1 AND facet = $2)
INSERT INTO {engine} (stream_name, msg_type, topic, message, priority)
SELECT $3, 'webhook', $6,
       jsonb_set(jsonb_set($4::jsonb, ARRAY['data', 'id'], to_jsonb(t.jid)), ARRAY['metadata', 'guid'],
                 to_jsonb('H' || substr(md5(gen_random_uuid()::text), 1, 22)))::text,
       5
FROM targets AS t;

-- name: purge_job
-- Delete every live row (queued, leased or delayed) of job $1 in both streams, except rows $2 the purging
-- step itself consumes. Rows another transaction holds are skipped, not waited for: that step finds the job
-- interrupted when it writes.
WITH engine_rows AS (
    DELETE FROM {engine} WHERE id IN (
        SELECT id FROM {engine} WHERE jid = $1 AND expired_at IS NULL AND id <> ALL($2::bigint[])
        FOR UPDATE SKIP LOCKED)
    RETURNING 1),
worker_rows AS (
    DELETE FROM {worker} WHERE id IN (
        SELECT id FROM {worker} WHERE jid = $1 AND expired_at IS NULL AND id <> ALL($2::bigint[])
        FOR UPDATE SKIP LOCKED)
    RETURNING 1)
SELECT (SELECT count(*) FROM engine_rows) + (SELECT count(*) FROM worker_rows);

-- name: cancel_escalations
-- An interrupted job's open escalations are cancelled in the same transaction (SPEC §2.9).
UPDATE public.hmsh_escalations SET status = 'cancelled', updated_at = now()
WHERE app_id = $1 AND workflow_id = $2 AND status = 'pending';

-- name: delete_job
-- scrub: the job's row (its state is in it; index rows cascade) and every stream row of it.
WITH engine_rows AS (DELETE FROM {engine} WHERE jid = $2 RETURNING 1),
     worker_rows AS (DELETE FROM {worker} WHERE jid = $2 RETURNING 1)
DELETE FROM {schema}.jobs WHERE key = $1;

-- name: prune_jobs
-- Delete jobs that expired more than $1 seconds ago (their state goes with the row).
WITH gone AS (
    DELETE FROM {schema}.jobs
    WHERE expired_at IS NOT NULL AND expired_at < now() - make_interval(secs => $1)
    RETURNING 1)
SELECT count(*) FROM gone;

-- name: prune_engine_streams
-- Dead-lettered engine rows parked more than $1 seconds ago (acked rows are deleted when acked).
WITH gone AS (
    DELETE FROM {engine}
    WHERE expired_at IS NOT NULL AND expired_at < now() - make_interval(secs => $1)
    RETURNING 1)
SELECT count(*) FROM gone;

-- name: prune_worker_streams
WITH gone AS (
    DELETE FROM {worker}
    WHERE expired_at IS NOT NULL AND expired_at < now() - make_interval(secs => $1)
    RETURNING 1)
SELECT count(*) FROM gone;

-- name: prune_signals
WITH gone AS (
    DELETE FROM {schema}.signal_registry WHERE expiry IS NOT NULL AND expiry < now()
    RETURNING 1)
SELECT count(*) FROM gone;
