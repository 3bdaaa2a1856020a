-- The lean step (issue 9): a job's state is ONE JSONB document on its `jobs` row, written with a patch and a
-- revision check; stream tables are plain tables whose acknowledged rows are deleted. Existing jobs and live
-- stream rows are converted in place.
--
-- jobs.state, top-level keys (HotMesh's field names, grouped per activity and dimension):
--   "data", "metadata"          job data and job metadata objects;
--   "<activity><dad>"           an activity's state in one dimension, e.g. "checkInventory,0,0":
--                               {"output": {"data": {…}, "metadata": {…}}, "hook": {"data": {…}}};
--   "<message guid>"            that message's GUID ledger (an integer);
--   "-<marker>", "_<field>"     replay markers (jmark/hmark) and search fields (udata).
-- The view `jobs_attributes` shows the same state as HotMesh's rows (readable paths, encoded values).

-- 1. jobs ---------------------------------------------------------------------------------------------

ALTER TABLE {schema}.job_index DROP CONSTRAINT IF EXISTS job_index_job_id_fkey;
DROP TRIGGER IF EXISTS trg_enforce_live_job_uniqueness ON {schema}.jobs;
DROP FUNCTION IF EXISTS {schema}.enforce_live_job_uniqueness();
ALTER TABLE {schema}.jobs RENAME TO jobs_v1;
ALTER TABLE {schema}.jobs_attributes RENAME TO jobs_attributes_v1;

CREATE TABLE {schema}.jobs_v2 (
    id         UUID NOT NULL DEFAULT gen_random_uuid(),
    key        TEXT NOT NULL,
    entity     TEXT,
    origin_id  TEXT,
    parent_id  TEXT,
    status     INTEGER NOT NULL,
    rev        INTEGER NOT NULL DEFAULT 1,
    state      JSONB NOT NULL DEFAULT '{}'::jsonb,
    context    JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expired_at TIMESTAMPTZ,
    pruned_at  TIMESTAMPTZ
) WITH (fillfactor = 80);

-- HotMesh's encoded text of a JSON value (/t /f /n /d<number> /s<json>, strings as they are).
CREATE OR REPLACE FUNCTION {schema}.encoded_value(v JSONB) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE jsonb_typeof(v)
        WHEN 'string' THEN CASE WHEN left(v #>> '{}', 1) = '/' THEN '/s' || v::text ELSE v #>> '{}' END
        WHEN 'number' THEN '/d' || v::text
        WHEN 'boolean' THEN CASE WHEN v = 'true'::jsonb THEN '/t' ELSE '/f' END
        WHEN 'null' THEN '/n'
        ELSE '/s' || v::text END
$fn$;

CREATE OR REPLACE FUNCTION pg_temp.decoded_value(t TEXT) RETURNS JSONB
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE
        WHEN t IS NULL THEN NULL
        WHEN t = '/t' THEN 'true'::jsonb
        WHEN t = '/f' THEN 'false'::jsonb
        WHEN t = '/n' THEN 'null'::jsonb
        WHEN left(t, 2) = '/d' THEN to_jsonb(substr(t, 3)::numeric)
        WHEN left(t, 2) = '/s' THEN substr(t, 3)::jsonb
        ELSE to_jsonb(t) END
$fn$;

-- Fold a v1 job's attribute rows into the v2 document.
CREATE OR REPLACE FUNCTION pg_temp.v1_state(job UUID, rows_table REGCLASS) RETURNS JSONB
LANGUAGE plpgsql AS $fn$
DECLARE
    doc JSONB := '{}'::jsonb;
    r RECORD;
    parts TEXT[];
    k TEXT;
BEGIN
    FOR r IN EXECUTE format('SELECT field, dimension, value FROM %s WHERE job_id = $1', rows_table) USING job LOOP
        parts := string_to_array(r.field, '/');
        IF array_length(parts, 1) = 1 THEN
            doc := doc || jsonb_build_object(r.field, pg_temp.decoded_value(r.value));
        ELSIF parts[1] IN ('data', 'metadata') THEN
            doc := jsonb_set(doc, ARRAY[parts[1]], coalesce(doc -> parts[1], '{}'::jsonb)
                             || jsonb_build_object(array_to_string(parts[2:], '/'), pg_temp.decoded_value(r.value)));
        ELSIF array_length(parts, 1) >= 4 THEN
            k := parts[1] || r.dimension;
            doc := jsonb_set(doc, ARRAY[k], coalesce(doc -> k, '{}'::jsonb));
            doc := jsonb_set(doc, ARRAY[k, parts[2]], coalesce(doc -> k -> parts[2], '{}'::jsonb));
            doc := jsonb_set(doc, ARRAY[k, parts[2], parts[3]], coalesce(doc -> k -> parts[2] -> parts[3], '{}'::jsonb));
            doc := jsonb_set(doc, ARRAY[k, parts[2], parts[3], array_to_string(parts[4:], '/')],
                             pg_temp.decoded_value(r.value));
        END IF;
    END LOOP;
    RETURN doc;
END $fn$;

-- The live row of each key wins, else the newest (v1 kept expired rows beside a live one).
INSERT INTO {schema}.jobs_v2 (id, key, entity, origin_id, parent_id, status, state, context, created_at, updated_at,
                           expired_at, pruned_at)
SELECT DISTINCT ON (j.key) j.id, j.key, j.entity, j.origin_id, j.parent_id, j.status,
       pg_temp.v1_state(j.id, '{schema}.jobs_attributes_v1'::regclass), j.context, j.created_at, j.updated_at,
       j.expired_at, j.pruned_at
FROM {schema}.jobs_v1 AS j
ORDER BY j.key, (j.expired_at IS NULL OR j.expired_at > now()) DESC, j.created_at DESC;

DROP TABLE {schema}.jobs_attributes_v1 CASCADE;
DROP TABLE {schema}.jobs_v1 CASCADE;
DROP FUNCTION pg_temp.v1_state(UUID, REGCLASS);
DROP FUNCTION pg_temp.decoded_value(TEXT);
ALTER TABLE {schema}.jobs_v2 RENAME TO jobs;
ALTER TABLE {schema}.jobs ADD CONSTRAINT jobs_pkey PRIMARY KEY (id);

-- One row per job id: a finished job's id can be used again once it expired (the old row is replaced).
CREATE UNIQUE INDEX jobs_key_idx ON {schema}.jobs (key);
CREATE INDEX jobs_expired_at_idx ON {schema}.jobs (expired_at) WHERE expired_at IS NOT NULL;
CREATE INDEX jobs_entity_idx ON {schema}.jobs (entity, created_at DESC) WHERE entity IS NOT NULL;
CREATE INDEX jobs_origin_idx ON {schema}.jobs (origin_id) WHERE origin_id IS NOT NULL;
CREATE INDEX jobs_parent_idx ON {schema}.jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX jobs_context_idx ON {schema}.jobs USING GIN (context);

DELETE FROM {schema}.job_index WHERE job_id NOT IN (SELECT id FROM {schema}.jobs);
ALTER TABLE {schema}.job_index ADD CONSTRAINT job_index_job_id_fkey
    FOREIGN KEY (job_id) REFERENCES {schema}.jobs (id) ON DELETE CASCADE;

-- HotMesh's rows, read from the documents: one row per readable field path and dimension.
CREATE VIEW {schema}.jobs_attributes AS
SELECT j.id AS job_id, 'data/' || d.key AS field, '' AS dimension, {schema}.encoded_value(d.value) AS value,
       'jdata'::{schema}.type_enum AS type
FROM {schema}.jobs AS j, jsonb_each(CASE WHEN jsonb_typeof(j.state -> 'data') = 'object' THEN j.state -> 'data'
                                         ELSE '{}'::jsonb END) AS d
UNION ALL
SELECT j.id, 'metadata/' || m.key, '', {schema}.encoded_value(m.value), 'jdata'::{schema}.type_enum
FROM {schema}.jobs AS j, jsonb_each(CASE WHEN jsonb_typeof(j.state -> 'metadata') = 'object'
                                         THEN j.state -> 'metadata' ELSE '{}'::jsonb END) AS m
UNION ALL
SELECT j.id, split_part(a.key, ',', 1) || '/' || s.key || '/' || k.key || '/' || f.key,
       substr(a.key, length(split_part(a.key, ',', 1)) + 1), {schema}.encoded_value(f.value),
       'adata'::{schema}.type_enum
FROM {schema}.jobs AS j,
     jsonb_each(j.state) AS a,
     jsonb_each(CASE WHEN strpos(a.key, ',') > 1 AND jsonb_typeof(a.value) = 'object' THEN a.value
                     ELSE '{}'::jsonb END) AS s,
     jsonb_each(CASE WHEN jsonb_typeof(s.value) = 'object' THEN s.value ELSE '{}'::jsonb END) AS k,
     jsonb_each(CASE WHEN jsonb_typeof(k.value) = 'object' THEN k.value ELSE '{}'::jsonb END) AS f
UNION ALL
SELECT j.id, o.key, '', {schema}.encoded_value(o.value),
       (CASE WHEN left(o.key, 1) = '-' THEN 'jmark' WHEN left(o.key, 1) = '_' THEN 'udata'
             ELSE 'other' END)::{schema}.type_enum
FROM {schema}.jobs AS j, jsonb_each(j.state) AS o
WHERE o.key NOT IN ('data', 'metadata') AND strpos(o.key, ',') = 0;

-- 2. streams ------------------------------------------------------------------------------------------

DROP TRIGGER IF EXISTS notify_engine_stream_insert ON {schema}.engine_streams;
DROP TRIGGER IF EXISTS notify_worker_stream_insert ON {schema}.worker_streams;
DROP FUNCTION IF EXISTS {schema}.notify_engine_stream_insert();
DROP FUNCTION IF EXISTS {schema}.notify_worker_stream_insert();
DROP FUNCTION IF EXISTS {schema}.notify_visible_messages(INTERVAL);
ALTER TABLE {schema}.engine_streams RENAME TO engine_streams_v1;
ALTER TABLE {schema}.worker_streams RENAME TO worker_streams_v1;

DO $$
DECLARE
    t TEXT;
    prefix TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['engine_streams', 'worker_streams'] LOOP
        prefix := CASE t WHEN 'engine_streams' THEN 'eng_' ELSE 'wrk_' END;
        EXECUTE format($ddl$
            CREATE TABLE {schema}.%1$I (
                id                       BIGSERIAL,
                stream_name              TEXT NOT NULL,
                jid                      TEXT NOT NULL DEFAULT '',
                aid                      TEXT NOT NULL DEFAULT '',
                dad                      TEXT NOT NULL DEFAULT '',
                msg_type                 TEXT NOT NULL DEFAULT '',
                topic                    TEXT NOT NULL DEFAULT '',
                workflow_name            TEXT NOT NULL DEFAULT '',
                message                  TEXT NOT NULL,
                created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
                reserved_at              TIMESTAMPTZ,
                reserved_by              TEXT,
                expired_at               TIMESTAMPTZ,
                dead_lettered_at         TIMESTAMPTZ,
                max_retry_attempts       INT NOT NULL DEFAULT 3,
                backoff_coefficient      NUMERIC NOT NULL DEFAULT 10,
                maximum_interval_seconds INT NOT NULL DEFAULT 120,
                initial_interval_seconds NUMERIC NOT NULL DEFAULT 1,
                visible_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
                delayed                  BOOLEAN NOT NULL DEFAULT FALSE,
                retry_attempt            INT NOT NULL DEFAULT 0,
                delivery_count           INT NOT NULL DEFAULT 0,
                priority                 INT NOT NULL DEFAULT 0
            )$ddl$, t || '_v2');
        EXECUTE format($copy$
            INSERT INTO {schema}.%1$I (id, stream_name, jid, aid, dad, msg_type, topic, workflow_name, message,
                created_at, reserved_at, reserved_by, expired_at, dead_lettered_at, max_retry_attempts,
                backoff_coefficient, maximum_interval_seconds, initial_interval_seconds, visible_at, delayed,
                retry_attempt, delivery_count, priority)
            SELECT id, stream_name, jid, aid, dad, msg_type, topic, workflow_name, message, created_at,
                   reserved_at, reserved_by, expired_at, dead_lettered_at, max_retry_attempts, backoff_coefficient,
                   maximum_interval_seconds, initial_interval_seconds, visible_at, visible_at > now(),
                   retry_attempt, delivery_count, priority
            FROM {schema}.%2$I WHERE expired_at IS NULL OR dead_lettered_at IS NOT NULL$copy$,
            t || '_v2', t || '_v1');
        EXECUTE format('SELECT setval(pg_get_serial_sequence(%1$L, %2$L), '
                       'greatest((SELECT max(id) FROM {schema}.%3$I), 1))',
                       '{schema}.' || t || '_v2', 'id', t || '_v1');
        EXECUTE format('DROP TABLE {schema}.%1$I CASCADE', t || '_v1');
        EXECUTE format('ALTER TABLE {schema}.%1$I RENAME TO %2$I', t || '_v2', t);
        EXECUTE format('ALTER TABLE {schema}.%1$I ADD CONSTRAINT %2$I PRIMARY KEY (id)', t, t || '_pkey');
        -- ready to claim now: walked in claim order, never past a delayed or leased row
        EXECUTE format('CREATE INDEX idx_%1$s_ready ON {schema}.%1$I (stream_name, priority DESC, id) '
                       'WHERE reserved_at IS NULL AND NOT delayed AND expired_at IS NULL', t);
        -- delayed (timers, retry backoff): found by due time, so sleeping work costs a claim nothing
        EXECUTE format('CREATE INDEX idx_%1$s_due ON {schema}.%1$I (stream_name, visible_at) '
                       'WHERE reserved_at IS NULL AND delayed AND expired_at IS NULL', t);
        -- leased: a lease that went stale is handed back by the reaper
        EXECUTE format('CREATE INDEX idx_%1$s_leased ON {schema}.%1$I (stream_name, reserved_at) '
                       'WHERE reserved_at IS NOT NULL AND expired_at IS NULL', t);
        EXECUTE format('CREATE INDEX idx_%1$s_jid ON {schema}.%1$I (jid, aid) '
                       'WHERE expired_at IS NULL AND jid <> %2$L', t, '');
        EXECUTE format('CREATE INDEX idx_%1$s_dead_lettered ON {schema}.%1$I (dead_lettered_at, stream_name) '
                       'WHERE dead_lettered_at IS NOT NULL', t);

        -- Wake the stream's consumers when a row is ready now, or tell them when a delayed one falls due.
        -- (Row level with a WHEN clause: rows a step hands to a consumer in its own process, already leased
        -- to it, cost nothing here; NOTIFY folds repeats within a transaction into one.)
        EXECUTE format($fn$
            CREATE FUNCTION {schema}.%1$I() RETURNS trigger LANGUAGE plpgsql AS $body$
            BEGIN
                IF NEW.delayed THEN
                    PERFORM pg_notify(left(%2$L || NEW.stream_name, 63),
                        json_build_object('stream_name', NEW.stream_name, 'table_type', %3$L,
                                          'due', extract(epoch FROM NEW.visible_at))::text);
                ELSE
                    PERFORM pg_notify(left(%2$L || NEW.stream_name, 63),
                        json_build_object('stream_name', NEW.stream_name, 'table_type', %3$L)::text);
                END IF;
                RETURN NULL;
            END $body$ $fn$,
            'notify_' || CASE t WHEN 'engine_streams' THEN 'engine' ELSE 'worker' END || '_stream_insert',
            prefix, CASE t WHEN 'engine_streams' THEN 'engine' ELSE 'worker' END);
        EXECUTE format('CREATE TRIGGER %1$I AFTER INSERT ON {schema}.%2$I FOR EACH ROW '
                       'WHEN (NEW.reserved_at IS NULL) EXECUTE FUNCTION {schema}.%1$I()',
                       'notify_' || CASE t WHEN 'engine_streams' THEN 'engine' ELSE 'worker' END || '_stream_insert',
                       t);
    END LOOP;
END $$;

-- Signals to one hook registration are claimed strictly in order (see the claim query).
CREATE INDEX idx_engine_streams_signal_order ON {schema}.engine_streams (stream_name, topic, id)
    WHERE msg_type = 'webhook' AND expired_at IS NULL;

-- Wake streams whose delayed rows fell due or whose leases went stale (for a scout or an operator).
CREATE OR REPLACE FUNCTION {schema}.notify_visible_messages(stale_after INTERVAL DEFAULT '60 seconds')
RETURNS INTEGER LANGUAGE plpgsql AS $fn$
DECLARE
    name TEXT;
    total INTEGER := 0;
BEGIN
    FOR name IN
        SELECT DISTINCT stream_name FROM {schema}.engine_streams
        WHERE expired_at IS NULL AND ((reserved_at IS NULL AND visible_at <= now())
                                      OR reserved_at < now() - stale_after)
        LIMIT 50
    LOOP
        PERFORM pg_notify(left('eng_' || name, 63),
                          json_build_object('stream_name', name, 'table_type', 'engine')::text);
        total := total + 1;
    END LOOP;
    FOR name IN
        SELECT DISTINCT stream_name FROM {schema}.worker_streams
        WHERE expired_at IS NULL AND ((reserved_at IS NULL AND visible_at <= now())
                                      OR reserved_at < now() - stale_after)
        LIMIT 50
    LOOP
        PERFORM pg_notify(left('wrk_' || name, 63),
                          json_build_object('stream_name', name, 'table_type', 'worker')::text);
        total := total + 1;
    END LOOP;
    RETURN total;
END $fn$;
