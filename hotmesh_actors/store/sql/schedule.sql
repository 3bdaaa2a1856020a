-- The schedule runner's view of an app's streams (hotmesh_actors.testing.schedule): which messages a test
-- may deliver next, and the faults it injects (a duplicate, a timer skipped ahead). `{table}` is the
-- schema-qualified engine_streams or worker_streams table; `{engine}` the app's engine_streams. A run only
-- ever looks at rows above its watermark (the table's highest id when the run began).

-- name: watermark
SELECT coalesce(max(id), 0) FROM {table};

-- name: deliverable
-- Live, visible rows above watermark $1, oldest first; a signal waits while an older live signal with the same
-- order key exists (as claim_batch has it), so a test never delivers what a real consumer could not.
SELECT s.id
FROM {table} AS s
WHERE s.id > $1 AND s.expired_at IS NULL AND s.visible_at <= now()
  AND (s.msg_type <> 'webhook' OR NOT EXISTS (
      SELECT 1 FROM {table} AS o
      WHERE o.stream_name = s.stream_name AND o.msg_type = 'webhook' AND o.topic = s.topic
        AND o.id < s.id AND o.expired_at IS NULL AND o.visible_at <= now()))
ORDER BY s.id;

-- name: next_delayed
-- The live row above watermark $1 due soonest (a timer, a retry's backoff), with when it is due.
SELECT id, visible_at FROM {table}
WHERE id > $1 AND expired_at IS NULL AND visible_at > now()
ORDER BY visible_at, id
LIMIT 1;

-- name: make_visible
-- Skip ahead: make a delayed row due now.
UPDATE {table} SET visible_at = now() WHERE id = $1 AND expired_at IS NULL;

-- name: lock_engine_row
-- An engine row to step, locked by the step's transaction (as claim_batch locks what it claims).
SELECT * FROM {table} WHERE id = $1 AND expired_at IS NULL FOR UPDATE SKIP LOCKED;

-- name: claim_worker_row
-- Lease worker row $1 to consumer $2 whatever its lease (the previous holder is, by the test's design, dead),
-- returning what claim_batch returns.
WITH target AS MATERIALIZED (
    SELECT id, stream_name, reserved_at IS NOT NULL AS redelivered FROM {table}
    WHERE id = $1 AND expired_at IS NULL
    FOR UPDATE
)
UPDATE {table} AS s
SET reserved_at = now(), reserved_by = $2, delivery_count = s.delivery_count + 1
FROM target AS t
WHERE s.stream_name = t.stream_name AND s.id = t.id
RETURNING s.id, s.stream_name, s.message, s.priority, s.retry_attempt, s.delivery_count,
          s.max_retry_attempts, s.backoff_coefficient::float8 AS backoff_coefficient,
          s.maximum_interval_seconds, s.initial_interval_seconds::float8 AS initial_interval_seconds,
          t.redelivered;

-- name: processed_engine_rows
-- Engine rows above watermark $1 already stepped (acked, not dead letters), oldest first; `await` rows are
-- left out (a copy of one only re-runs the child's duplicate-id check).
SELECT id FROM {table}
WHERE id > $1 AND expired_at IS NOT NULL AND dead_lettered_at IS NULL AND msg_type <> 'await'
ORDER BY id;

-- name: duplicate_engine_row
-- A copy of engine row $1, live again: the same message delivered twice.
INSERT INTO {table} (stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority)
SELECT stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority FROM {table} WHERE id = $1
RETURNING id;

-- name: dead_lettered
-- Rows above watermark $1 parked as dead letters.
SELECT count(*) FROM {table} WHERE id > $1 AND dead_lettered_at IS NOT NULL;
