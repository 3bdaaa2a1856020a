-- The schedule runner's view of an app's streams (hotmesh_actors.testing.schedule): which messages a test
-- may deliver next, and the faults it injects (a duplicate, a timer skipped ahead). `{table}` is the
-- schema-qualified engine_streams or worker_streams table. A run only ever looks at rows above its
-- watermark (the table's highest id when the run began).

-- name: watermark
SELECT coalesce(max(id), 0) FROM {table};

-- name: deliverable
-- Live rows above watermark $1 that are due (leased ones too: the runner is the only consumer, and a lease
-- it holds is one whose delivery crashed), oldest first; a signal waits while an older live signal with the
-- same order key exists (as claim_batch has it), so a test never delivers what a real consumer could not.
SELECT s.id
FROM {table} AS s
WHERE s.id > $1 AND s.expired_at IS NULL AND (NOT s.delayed OR s.visible_at <= now())
  AND (s.msg_type <> 'webhook' OR NOT EXISTS (
      SELECT 1 FROM {table} AS o
      WHERE o.stream_name = s.stream_name AND o.msg_type = 'webhook' AND o.topic = s.topic
        AND o.id < s.id AND o.expired_at IS NULL))
ORDER BY s.id;

-- name: next_delayed
-- The live delayed row above watermark $1 due soonest (a timer, a retry's backoff), with when it is due.
SELECT id, visible_at FROM {table}
WHERE id > $1 AND expired_at IS NULL AND delayed AND visible_at > now()
ORDER BY visible_at, id
LIMIT 1;

-- name: make_visible
-- Skip ahead: make a delayed row due now.
UPDATE {table} SET visible_at = now() WHERE id = $1 AND expired_at IS NULL;

-- name: claim_row
-- Lease row $1 to consumer $2 whatever its lease (the previous holder is, by the test's design, dead),
-- returning what claim_batch returns (and the columns a duplicate copies).
UPDATE {table} AS s
SET reserved_at = now(), reserved_by = $2, delivery_count = s.delivery_count + 1
WHERE s.id = $1 AND s.expired_at IS NULL
RETURNING s.id, s.stream_name, s.message, s.priority, s.retry_attempt, s.delivery_count,
          s.max_retry_attempts, s.backoff_coefficient::float8 AS backoff_coefficient,
          s.maximum_interval_seconds, s.initial_interval_seconds::float8 AS initial_interval_seconds,
          s.jid, s.aid, s.dad, s.msg_type, s.topic, s.workflow_name;

-- name: insert_copy
-- A copy of a delivered engine message, live again (same text, same guid): the same message twice.
INSERT INTO {table} (stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING id;

-- name: dead_lettered
-- Rows above watermark $1 parked as dead letters.
SELECT count(*) FROM {table} WHERE id > $1 AND dead_lettered_at IS NOT NULL;
