-- Stream queries. `{table}` is the schema-qualified engine_streams or worker_streams table.
-- A live row is one with `expired_at IS NULL`: acked rows are deleted; dead-lettered rows are kept, expired.

-- name: publish
-- Multi-row insert from parallel arrays; delay_s > 0 makes a row a delayed one, claimable from now() + delay.
-- A row with reserved_by set is leased at insert to that consumer (the in-process hand-off).
INSERT INTO {table} (stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority,
                     visible_at, delayed, max_retry_attempts, backoff_coefficient, maximum_interval_seconds,
                     initial_interval_seconds, retry_attempt, reserved_at, reserved_by, delivery_count)
SELECT r.stream_name, r.jid, r.aid, r.dad, r.msg_type, r.topic, r.workflow_name, r.message, r.priority,
       now() + make_interval(secs => r.delay_s), r.delay_s > 0, r.max_attempts, r.coefficient, r.max_interval,
       r.initial_interval, r.retry_attempt, CASE WHEN r.reserved_by IS NULL THEN NULL ELSE now() END,
       r.reserved_by, CASE WHEN r.reserved_by IS NULL THEN 0 ELSE 1 END
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::int[], $10::float8[], $11::int[], $12::numeric[], $13::int[], $14::numeric[], $15::int[],
            $16::text[])
     AS r(stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority, delay_s,
          max_attempts, coefficient, max_interval, initial_interval, retry_attempt, reserved_by)
RETURNING id;

-- name: claim_batch
-- Lease up to $2 claimable messages of stream $1 for consumer $3: ready rows (highest priority first, FIFO
-- within it) and delayed rows that fell due. Each set is read from its own partial index, so rows that are
-- leased or sleeping cost the claim nothing, however many there are. Signals (webhook rows) with the same
-- order key (their `topic` column) are taken strictly in order: one waits while an older one is live.
WITH ready AS MATERIALIZED (
    SELECT s.id, s.priority FROM {table} AS s
    WHERE s.stream_name = $1 AND s.reserved_at IS NULL AND NOT s.delayed AND s.expired_at IS NULL
      AND (s.msg_type <> 'webhook' OR NOT EXISTS (
          SELECT 1 FROM {table} AS o
          WHERE o.stream_name = s.stream_name AND o.msg_type = 'webhook' AND o.topic = s.topic
            AND o.id < s.id AND o.expired_at IS NULL))
    ORDER BY s.priority DESC, s.id
    LIMIT $2
    FOR UPDATE OF s SKIP LOCKED),
due AS MATERIALIZED (
    SELECT s.id, s.priority FROM {table} AS s
    WHERE s.stream_name = $1 AND s.reserved_at IS NULL AND s.delayed AND s.expired_at IS NULL
      AND s.visible_at <= now()
      AND (s.msg_type <> 'webhook' OR NOT EXISTS (
          SELECT 1 FROM {table} AS o
          WHERE o.stream_name = s.stream_name AND o.msg_type = 'webhook' AND o.topic = s.topic
            AND o.id < s.id AND o.expired_at IS NULL))
    ORDER BY s.visible_at, s.id
    LIMIT $2
    FOR UPDATE OF s SKIP LOCKED),
chosen AS (
    SELECT id FROM (SELECT * FROM ready UNION ALL SELECT * FROM due) AS c
    ORDER BY c.priority DESC, c.id
    LIMIT $2)
UPDATE {table} AS s
SET reserved_at = now(), reserved_by = $3, delivery_count = s.delivery_count + 1
FROM chosen
WHERE s.id = chosen.id
RETURNING s.id, s.stream_name, s.message, s.priority, s.retry_attempt, s.delivery_count,
          s.max_retry_attempts, s.backoff_coefficient::float8 AS backoff_coefficient,
          s.maximum_interval_seconds, s.initial_interval_seconds::float8 AS initial_interval_seconds;

-- name: reap
-- Hand back the leases of stream $1 not renewed for $2 seconds (their consumer died or stalled): the rows
-- are ready again (their delivery count tells the next consumer it is a redelivery), and the stream's
-- consumers are woken on channel $3.
WITH freed AS (
    UPDATE {table} SET reserved_at = NULL, reserved_by = NULL, delayed = FALSE
    WHERE id IN (
        SELECT id FROM {table}
        WHERE stream_name = $1 AND reserved_at IS NOT NULL AND expired_at IS NULL
          AND reserved_at < now() - make_interval(secs => $2)
        ORDER BY reserved_at
        LIMIT 1000
        FOR UPDATE SKIP LOCKED)
    RETURNING id)
SELECT count(*)::int AS freed,
       (SELECT pg_notify($3, $4) WHERE EXISTS (SELECT 1 FROM freed)) AS woke
FROM freed;

-- name: release
-- A stopping consumer $3 hands back rows $2 of stream $1 it holds but has not started (taken from memory),
-- waking the stream's other consumers on channel $4 with payload $5.
WITH freed AS (
    UPDATE {table} SET reserved_at = NULL, reserved_by = NULL
    WHERE id = ANY($2::bigint[]) AND reserved_by = $3 AND expired_at IS NULL AND stream_name = $1
    RETURNING id)
SELECT count(*)::int AS freed,
       (SELECT pg_notify($4, $5) WHERE EXISTS (SELECT 1 FROM freed)) AS woke
FROM freed;

-- name: next_wake
-- Seconds until stream $1 next has claimable work (a delayed row falls due, or a lease of $2 seconds goes
-- stale); NULL when nothing is pending.
SELECT EXTRACT(EPOCH FROM (LEAST(
    (SELECT min(visible_at) FROM {table}
     WHERE stream_name = $1 AND reserved_at IS NULL AND delayed AND expired_at IS NULL),
    (SELECT min(reserved_at) + make_interval(secs => $2) FROM {table}
     WHERE stream_name = $1 AND reserved_at IS NOT NULL AND expired_at IS NULL)
) - now()))::float8;

-- name: heartbeat
-- Renew the leases consumer $3 holds on rows $2; the ids returned are the leases still held.
UPDATE {table} SET reserved_at = now()
WHERE id = ANY($2::bigint[]) AND reserved_by = $3 AND expired_at IS NULL AND stream_name = $1
RETURNING id;

-- name: ack
-- Delete rows this consumer still leases; returns the ids acked.
DELETE FROM {table}
WHERE id = ANY($2::bigint[]) AND reserved_by = $3 AND expired_at IS NULL AND stream_name = $1
RETURNING id;

-- name: ack_and_publish
-- One round trip for a worker's reply to an engine in another process: ack row $2 of stream $1 (only while
-- consumer $3 holds its lease) and, if that acked it, insert the reply into {target}. No row returned means
-- the lease was lost.
WITH acked AS (
    DELETE FROM {table}
    WHERE id = $2 AND reserved_by = $3 AND expired_at IS NULL AND stream_name = $1
    RETURNING id
)
INSERT INTO {target} (stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority)
SELECT $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM acked
RETURNING id;

-- name: retry
-- Ack row $2 and re-publish it as a new delayed row with message $4, claimable after $5 seconds, one attempt
-- later, carrying the retry policy ($6 attempts, $7 coefficient, $8 cap seconds, $9 initial seconds).
WITH old AS (
    DELETE FROM {table}
    WHERE id = $2 AND reserved_by = $3 AND expired_at IS NULL AND stream_name = $1
    RETURNING *
)
INSERT INTO {table} (stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority,
                     visible_at, delayed, max_retry_attempts, backoff_coefficient, maximum_interval_seconds,
                     initial_interval_seconds, retry_attempt)
SELECT stream_name, jid, aid, dad, msg_type, topic, workflow_name, $4, priority,
       now() + make_interval(secs => $5), $5 > 0, $6, $7, $8, $9, retry_attempt + 1
FROM old
RETURNING id;

-- name: dead_letter
-- Park a message for good: expired and marked dead-lettered, payload kept for inspection.
UPDATE {table} SET expired_at = now(), dead_lettered_at = now()
WHERE id = ANY($2::bigint[]) AND expired_at IS NULL AND stream_name = $1
RETURNING id;

-- name: depth
-- Live (unacked, not dead-lettered) rows of stream $1.
SELECT count(*) FROM {table} WHERE stream_name = $1 AND expired_at IS NULL;
