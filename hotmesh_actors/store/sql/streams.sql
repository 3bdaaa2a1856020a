-- Stream queries. `{table}` is the schema-qualified engine_streams or worker_streams table.

-- name: publish
-- Multi-row insert from parallel arrays; delay_s > 0 makes a row invisible until now() + delay.
INSERT INTO {table} (stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority,
                     visible_at, max_retry_attempts, backoff_coefficient, maximum_interval_seconds,
                     initial_interval_seconds, retry_attempt)
SELECT r.stream_name, r.jid, r.aid, r.dad, r.msg_type, r.topic, r.workflow_name, r.message, r.priority,
       now() + make_interval(secs => r.delay_s), r.max_attempts, r.coefficient, r.max_interval,
       r.initial_interval, r.retry_attempt
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::int[], $10::float8[], $11::int[], $12::numeric[], $13::int[], $14::numeric[], $15::int[])
     AS r(stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority, delay_s,
          max_attempts, coefficient, max_interval, initial_interval, retry_attempt)
RETURNING id;

-- name: claim_batch
-- Lease up to $2 visible messages of stream $1 for consumer $4, highest priority first, FIFO within it;
-- rows whose lease is older than $3 seconds are claimable again (their consumer died or stalled).
-- Signals (webhook rows) with the same order key (their `topic` column: the signal's registry key) are taken
-- strictly in order: one waits while an older one is live, so concurrent steps cannot apply a hook's 200
-- before its 202. Signals to different waiting jobs do not wait for each other.
WITH candidates AS MATERIALIZED (
    SELECT s.id, s.reserved_at IS NOT NULL AS redelivered
    FROM {table} AS s
    WHERE s.stream_name = $1
      AND s.expired_at IS NULL
      AND s.visible_at <= now()
      AND (s.reserved_at IS NULL OR s.reserved_at < now() - make_interval(secs => $3))
      AND (s.msg_type <> 'webhook' OR NOT EXISTS (
          SELECT 1 FROM {table} AS o
          WHERE o.stream_name = s.stream_name AND o.msg_type = 'webhook' AND o.topic = s.topic
            AND o.id < s.id AND o.expired_at IS NULL AND o.visible_at <= now()))
    ORDER BY s.priority DESC, s.id
    LIMIT $2
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE {table} AS s
SET reserved_at = now(), reserved_by = $4, delivery_count = s.delivery_count + 1
FROM candidates AS c
WHERE s.stream_name = $1 AND s.id = c.id
RETURNING s.id, s.stream_name, s.message, s.priority, s.retry_attempt, s.delivery_count,
          s.max_retry_attempts, s.backoff_coefficient::float8 AS backoff_coefficient,
          s.maximum_interval_seconds, s.initial_interval_seconds::float8 AS initial_interval_seconds,
          c.redelivered;

-- name: next_wake
-- Seconds until stream $1 next has claimable work (a delayed row turns visible or a lease of $2
-- seconds goes stale); NULL when nothing is pending.
SELECT EXTRACT(EPOCH FROM (LEAST(
    (SELECT min(visible_at) FROM {table}
     WHERE stream_name = $1 AND expired_at IS NULL AND reserved_at IS NULL AND visible_at > now()),
    (SELECT min(reserved_at) + make_interval(secs => $2) FROM {table}
     WHERE stream_name = $1 AND expired_at IS NULL AND reserved_at IS NOT NULL)
) - now()))::float8;

-- name: heartbeat
-- Renew the leases consumer $3 holds on rows $2; the ids returned are the leases still held.
UPDATE {table} SET reserved_at = now()
WHERE stream_name = $1 AND id = ANY($2::bigint[]) AND reserved_by = $3 AND expired_at IS NULL
RETURNING id;

-- name: ack
-- Soft delete: the row stays for audit and export until pruned.
UPDATE {table} SET expired_at = now()
WHERE stream_name = $1 AND id = ANY($2::bigint[]) AND reserved_by = $3 AND expired_at IS NULL
RETURNING id;

-- name: ack_and_publish
-- One round trip for a worker's success: ack row $2 of stream $1 (only while consumer $3 holds its lease)
-- and, if that acked it, insert the reply into {target}. No row returned means the lease was lost.
WITH acked AS (
    UPDATE {table} SET expired_at = now()
    WHERE stream_name = $1 AND id = $2 AND reserved_by = $3 AND expired_at IS NULL
    RETURNING id
)
INSERT INTO {target} (stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority)
SELECT $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM acked
RETURNING id;

-- name: ack_locked
-- Ack rows this transaction holds locked (an engine step), whoever reserved them.
UPDATE {table} SET expired_at = now()
WHERE stream_name = $1 AND id = ANY($2::bigint[]) AND expired_at IS NULL;

-- name: retry
-- Ack row $2 and re-publish it as a new row with message $4, visible after $5 seconds, one attempt later,
-- carrying the retry policy ($6 attempts, $7 coefficient, $8 cap seconds, $9 initial seconds) that decided it.
WITH old AS (
    UPDATE {table} SET expired_at = now()
    WHERE stream_name = $1 AND id = $2 AND reserved_by = $3 AND expired_at IS NULL
    RETURNING *
)
INSERT INTO {table} (stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority,
                     visible_at, max_retry_attempts, backoff_coefficient, maximum_interval_seconds,
                     initial_interval_seconds, retry_attempt)
SELECT stream_name, jid, aid, dad, msg_type, topic, workflow_name, $4, priority,
       now() + make_interval(secs => $5), $6, $7, $8, $9, retry_attempt + 1
FROM old
RETURNING id;

-- name: dead_letter
-- Park a message for good: expired and marked dead-lettered, payload kept for inspection.
UPDATE {table} SET expired_at = now(), dead_lettered_at = now()
WHERE stream_name = $1 AND id = ANY($2::bigint[]) AND expired_at IS NULL
RETURNING id;

-- name: purge_job
-- Expire every live row (queued, leased or delayed) that belongs to job $1. Rows another transaction holds
-- are skipped, not waited for (that step holds or wants the job lock; it finds the job inactive and drops them).
UPDATE {table} SET expired_at = now()
WHERE (stream_name, id) IN (
    SELECT stream_name, id FROM {table} WHERE jid = $1 AND expired_at IS NULL FOR UPDATE SKIP LOCKED);

-- name: depth
-- Live (unacked) rows of stream $1.
SELECT count(*) FROM {table} WHERE stream_name = $1 AND expired_at IS NULL;
