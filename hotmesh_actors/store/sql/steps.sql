-- The step's transaction script (store/steps.py). `{jobs}`, `{engine}`, `{worker}`, `{job_index}` are the
-- app's schema-qualified tables.

-- name: write_steps
-- Commit a batch of steps ("items"), each all or nothing, in ONE statement. An item updates one job (only if
-- its row still has the revision the step read: `rev`) or inserts one job (only if no row has its key), acks
-- the stream rows it consumed (only while their lease is still held by `owner`; `dead` parks a row as
-- dead-lettered instead of deleting it), and publishes messages and NOTIFYs. An item whose job changed
-- ('stale'), whose lease was lost ('lost') or whose new job exists ('duplicate') writes nothing, except that a
-- child start (`ack_on_conflict`) whose child exists already still acks its `await` message ('acked').
-- Jobs are locked in key order and stream rows in id order, so concurrent batches cannot deadlock.
WITH
ju AS MATERIALIZED (
    SELECT * FROM unnest($1::int[], $2::text[], $3::int[], $4::int[], $5::text[], $6::bool[], $7::float8[])
        AS u(item, key, rev, delta, patch, finish, expire)),
ji AS MATERIALIZED (
    SELECT * FROM unnest($8::int[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int[], $14::text[],
                         $15::float8[], $16::bool[])
        AS i(item, key, entity, origin_id, parent_id, status, state, expire, ack_on_conflict)),
ak AS MATERIALIZED (
    SELECT * FROM unnest($17::int[], $18::bigint[], $19::text[], $20::bool[], $21::bool[])
        AS a(item, id, owner, engine, dead)),
fresh AS MATERIALIZED (
    SELECT u.item, j.id AS job_id FROM ju AS u JOIN {jobs} AS j ON j.key = u.key AND j.rev = u.rev
    ORDER BY u.key FOR UPDATE OF j),
owned_engine AS MATERIALIZED (
    SELECT a.item, a.id FROM ak AS a JOIN {engine} AS s ON s.id = a.id AND s.reserved_by = a.owner
    WHERE a.engine AND s.expired_at IS NULL ORDER BY a.id FOR UPDATE OF s),
owned_worker AS MATERIALIZED (
    SELECT a.item, a.id FROM ak AS a JOIN {worker} AS s ON s.id = a.id AND s.reserved_by = a.owner
    WHERE NOT a.engine AND s.expired_at IS NULL ORDER BY a.id FOR UPDATE OF s),
problems AS MATERIALIZED (
    SELECT 'stale' AS kind, u.item FROM ju AS u WHERE NOT EXISTS (SELECT 1 FROM fresh AS f WHERE f.item = u.item)
    UNION ALL
    SELECT 'lost', a.item FROM ak AS a
    WHERE NOT EXISTS (SELECT 1 FROM owned_engine AS o WHERE o.item = a.item AND o.id = a.id)
      AND NOT EXISTS (SELECT 1 FROM owned_worker AS o WHERE o.item = a.item AND o.id = a.id)),
checked AS MATERIALIZED (
    SELECT t.item FROM (SELECT item FROM ju UNION SELECT item FROM ji UNION SELECT item FROM ak) AS t
    WHERE NOT EXISTS (SELECT 1 FROM problems AS p WHERE p.item = t.item)),
-- Of the batch's new jobs with one key (two `pub`s racing with one job id), only the first may insert: the
-- others are duplicates even if it does insert (matching the inserted rows by key alone would call them all
-- inserted, and commit each one's effects).
first_insert AS MATERIALIZED (
    SELECT DISTINCT ON (i.key) i.item, i.key FROM ji AS i WHERE i.item IN (SELECT item FROM checked)
    ORDER BY i.key, i.item),
inserted AS (
    INSERT INTO {jobs} (key, entity, origin_id, parent_id, status, state, expired_at)
    SELECT i.key, i.entity, i.origin_id, i.parent_id, i.status, i.state::jsonb,
           CASE WHEN i.expire IS NULL OR i.expire <= 0 THEN NULL ELSE now() + make_interval(secs => i.expire) END
    FROM ji AS i WHERE i.item IN (SELECT item FROM first_insert)
    ORDER BY i.key
    ON CONFLICT (key) DO NOTHING
    RETURNING id, key),
duplicates AS MATERIALIZED (
    SELECT i.item, i.ack_on_conflict FROM ji AS i
    WHERE i.item IN (SELECT item FROM checked)
      AND NOT EXISTS (SELECT 1 FROM inserted AS n JOIN first_insert AS f ON f.key = n.key
                      WHERE f.item = i.item)),
valid AS MATERIALIZED (
    SELECT c.item FROM checked AS c WHERE NOT EXISTS (SELECT 1 FROM duplicates AS d WHERE d.item = c.item)),
acking AS MATERIALIZED (
    SELECT item FROM valid UNION SELECT item FROM duplicates WHERE ack_on_conflict),
updated AS (
    UPDATE {jobs} AS j
    SET status = j.status + u.delta, rev = j.rev + 1, state = j.state || u.patch::jsonb, updated_at = now(),
        expired_at = CASE WHEN NOT u.finish THEN j.expired_at
                          WHEN u.expire <= 0 THEN NULL
                          ELSE now() + make_interval(secs => u.expire) END
    FROM ju AS u JOIN fresh AS f ON f.item = u.item
    WHERE j.id = f.job_id AND u.item IN (SELECT item FROM valid)
    RETURNING u.item, j.rev),
acked_engine AS (
    DELETE FROM {engine} AS s USING owned_engine AS o, ak AS a
    WHERE s.id = o.id AND a.item = o.item AND a.id = o.id AND a.engine AND NOT a.dead
      AND o.item IN (SELECT item FROM acking)
    RETURNING s.id),
parked_engine AS (
    UPDATE {engine} AS s SET expired_at = now(), dead_lettered_at = now()
    FROM owned_engine AS o, ak AS a
    WHERE s.id = o.id AND a.item = o.item AND a.id = o.id AND a.engine AND a.dead
      AND o.item IN (SELECT item FROM acking)
    RETURNING s.id),
acked_worker AS (
    DELETE FROM {worker} AS s USING owned_worker AS o, ak AS a
    WHERE s.id = o.id AND a.item = o.item AND a.id = o.id AND NOT a.engine AND NOT a.dead
      AND o.item IN (SELECT item FROM acking)
    RETURNING s.id),
parked_worker AS (
    UPDATE {worker} AS s SET expired_at = now(), dead_lettered_at = now()
    FROM owned_worker AS o, ak AS a
    WHERE s.id = o.id AND a.item = o.item AND a.id = o.id AND NOT a.engine AND a.dead
      AND o.item IN (SELECT item FROM acking)
    RETURNING s.id),
indexed AS (
    INSERT INTO {job_index} (stats_key, facet, job_id, jid)
    SELECT x.stats_key, x.facet, n.id, x.jid
    FROM unnest($22::int[], $23::text[], $24::text[], $25::text[], $26::text[])
         AS x(item, key, stats_key, facet, jid)
    JOIN first_insert AS f ON f.item = x.item
    JOIN inserted AS n ON n.key = x.key
    ON CONFLICT DO NOTHING
    RETURNING 1),
published_engine AS (
    INSERT INTO {engine} (stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority,
                          visible_at, delayed, max_retry_attempts, backoff_coefficient, maximum_interval_seconds,
                          initial_interval_seconds, retry_attempt, reserved_at, reserved_by, delivery_count)
    SELECT p.stream_name, p.jid, p.aid, p.dad, p.msg_type, p.topic, p.workflow_name, p.message, p.priority,
           now() + make_interval(secs => p.delay_s), p.delay_s > 0, p.max_attempts, p.coefficient,
           p.max_interval, p.initial_interval, p.retry_attempt,
           CASE WHEN p.reserved_by IS NULL THEN NULL ELSE now() END, p.reserved_by,
           CASE WHEN p.reserved_by IS NULL THEN 0 ELSE 1 END
    FROM unnest($27::int[], $28::text[], $29::text[], $30::text[], $31::text[], $32::text[], $33::text[],
                $34::text[], $35::text[], $36::int[], $37::float8[], $38::int[], $39::numeric[], $40::int[],
                $41::numeric[], $42::int[], $43::text[])
         AS p(item, stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority, delay_s,
              max_attempts, coefficient, max_interval, initial_interval, retry_attempt, reserved_by)
    WHERE p.item IN (SELECT item FROM valid)
    RETURNING id, jid, aid, dad, reserved_by),
published_worker AS (
    INSERT INTO {worker} (stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority,
                          visible_at, delayed, max_retry_attempts, backoff_coefficient, maximum_interval_seconds,
                          initial_interval_seconds, retry_attempt, reserved_at, reserved_by, delivery_count)
    SELECT p.stream_name, p.jid, p.aid, p.dad, p.msg_type, p.topic, p.workflow_name, p.message, p.priority,
           now() + make_interval(secs => p.delay_s), p.delay_s > 0, p.max_attempts, p.coefficient,
           p.max_interval, p.initial_interval, p.retry_attempt,
           CASE WHEN p.reserved_by IS NULL THEN NULL ELSE now() END, p.reserved_by,
           CASE WHEN p.reserved_by IS NULL THEN 0 ELSE 1 END
    FROM unnest($44::int[], $45::text[], $46::text[], $47::text[], $48::text[], $49::text[], $50::text[],
                $51::text[], $52::text[], $53::int[], $54::float8[], $55::int[], $56::numeric[], $57::int[],
                $58::numeric[], $59::int[], $60::text[])
         AS p(item, stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, priority, delay_s,
              max_attempts, coefficient, max_interval, initial_interval, retry_attempt, reserved_by)
    WHERE p.item IN (SELECT item FROM valid)
    RETURNING id, jid, aid, dad, reserved_by),
notified AS (
    SELECT pg_notify(n.channel, n.payload)
    FROM unnest($61::int[], $62::text[], $63::text[]) AS n(item, channel, payload)
    WHERE n.item IN (SELECT item FROM valid))
SELECT 'valid' AS kind, v.item, (SELECT u.rev FROM updated AS u WHERE u.item = v.item) AS rev,
       (SELECT n.id::text FROM inserted AS n JOIN first_insert AS f ON f.key = n.key WHERE f.item = v.item)
           AS job_id,
       NULL::bigint AS id, NULL::text AS jid, NULL::text AS aid, NULL::text AS dad
FROM valid AS v
UNION ALL
SELECT p.kind, p.item, NULL, NULL, NULL, NULL, NULL, NULL FROM problems AS p
UNION ALL
SELECT CASE WHEN d.ack_on_conflict THEN 'acked' ELSE 'duplicate' END, d.item, NULL, NULL, NULL, NULL, NULL, NULL
FROM duplicates AS d
UNION ALL
SELECT 'handed', NULL, NULL, NULL, w.id, w.jid, w.aid, w.dad FROM published_worker AS w
WHERE w.reserved_by IS NOT NULL
UNION ALL
SELECT 'handed_engine', NULL, NULL, NULL, e.id, e.jid, e.aid, e.dad FROM published_engine AS e
WHERE e.reserved_by IS NOT NULL
UNION ALL
SELECT 'counts', (SELECT count(*) FROM notified)::int, NULL, NULL,
       (SELECT count(*) FROM acked_engine) + (SELECT count(*) FROM acked_worker)
       + (SELECT count(*) FROM parked_engine) + (SELECT count(*) FROM parked_worker)
       + (SELECT count(*) FROM indexed),
       NULL, NULL, NULL;

-- name: load_job
-- A job's row for a step (no lock: the write checks the revision).
SELECT id::text AS id, key, status, rev, state::text AS state, entity, origin_id, parent_id,
       expired_at IS NOT NULL AND expired_at <= now() AS expired
FROM {jobs} WHERE key = $1;

-- name: replace_expired_job
-- Free an expired job's key for a new job of the same id (its state and index rows go with it).
DELETE FROM {jobs} WHERE key = $1 AND expired_at IS NOT NULL AND expired_at <= now();
