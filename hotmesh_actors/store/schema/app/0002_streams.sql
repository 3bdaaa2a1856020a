-- Engine and worker streams (SPEC §2.5-2.6): durable queues with leases, delays, retries, dead letters.
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['engine_streams', 'worker_streams'] LOOP
        EXECUTE format($ddl$
            CREATE TABLE IF NOT EXISTS {schema}.%1$I (
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
                retry_attempt            INT NOT NULL DEFAULT 0,
                delivery_count           INT NOT NULL DEFAULT 0,
                priority                 INT NOT NULL DEFAULT 0,
                PRIMARY KEY (stream_name, id)
            ) PARTITION BY HASH (stream_name)$ddl$, t);
        FOR i IN 0..7 LOOP
            EXECUTE format(
                'CREATE TABLE IF NOT EXISTS {schema}.%1$I PARTITION OF {schema}.%2$I '
                'FOR VALUES WITH (MODULUS 8, REMAINDER %3$s) WITH (fillfactor = 70)',
                t || '_part_' || i, t, i);
        END LOOP;
        EXECUTE format('CREATE INDEX IF NOT EXISTS idx_%1$s_active_messages ON {schema}.%1$I '
            '(stream_name, priority DESC, visible_at, id) WHERE reserved_at IS NULL AND expired_at IS NULL', t);
        EXECUTE format('CREATE INDEX IF NOT EXISTS idx_%1$s_message_fetch ON {schema}.%1$I '
            '(stream_name, priority DESC, id) WHERE expired_at IS NULL', t);
        EXECUTE format('CREATE INDEX IF NOT EXISTS idx_%1$s_processed_volume ON {schema}.%1$I '
            '(expired_at, stream_name) WHERE expired_at IS NOT NULL', t);
        EXECUTE format('CREATE INDEX IF NOT EXISTS idx_%1$s_dead_lettered ON {schema}.%1$I '
            '(dead_lettered_at, stream_name) WHERE dead_lettered_at IS NOT NULL', t);
        EXECUTE format('CREATE INDEX IF NOT EXISTS idx_%1$s_inflight ON {schema}.%1$I '
            '(stream_name, reserved_at) WHERE expired_at IS NULL AND reserved_at IS NOT NULL', t);
        EXECUTE format('CREATE INDEX IF NOT EXISTS idx_%1$s_jid_created ON {schema}.%1$I '
            '(jid, created_at) WHERE jid <> %2$L', t, '');
    END LOOP;
END $$;

CREATE INDEX IF NOT EXISTS idx_worker_streams_jid_aid ON {schema}.worker_streams (jid, aid, created_at);
CREATE INDEX IF NOT EXISTS idx_worker_streams_jid_type ON {schema}.worker_streams (jid, msg_type, created_at);

-- One NOTIFY per distinct stream among the inserted rows that are visible now (statement level, so a
-- multi-row publish wakes each stream once). Delayed rows wake consumers through their own timers.
CREATE OR REPLACE FUNCTION {schema}.notify_engine_stream_insert() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    name TEXT;
BEGIN
    FOR name IN SELECT DISTINCT stream_name FROM new_rows WHERE visible_at <= now() LOOP
        PERFORM pg_notify(left('eng_' || name, 63),
                          json_build_object('stream_name', name, 'table_type', 'engine')::text);
    END LOOP;
    RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION {schema}.notify_worker_stream_insert() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    name TEXT;
BEGIN
    FOR name IN SELECT DISTINCT stream_name FROM new_rows WHERE visible_at <= now() LOOP
        PERFORM pg_notify(left('wrk_' || name, 63),
                          json_build_object('stream_name', name, 'table_type', 'worker')::text);
    END LOOP;
    RETURN NULL;
END $fn$;

DROP TRIGGER IF EXISTS notify_engine_stream_insert ON {schema}.engine_streams;
CREATE TRIGGER notify_engine_stream_insert AFTER INSERT ON {schema}.engine_streams
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {schema}.notify_engine_stream_insert();

DROP TRIGGER IF EXISTS notify_worker_stream_insert ON {schema}.worker_streams;
CREATE TRIGGER notify_worker_stream_insert AFTER INSERT ON {schema}.worker_streams
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {schema}.notify_worker_stream_insert();

-- Wake streams whose delayed rows became visible or whose leases went stale (for a scout or an operator).
CREATE OR REPLACE FUNCTION {schema}.notify_visible_messages(stale_after INTERVAL DEFAULT '60 seconds')
RETURNS INTEGER LANGUAGE plpgsql AS $fn$
DECLARE
    name TEXT;
    total INTEGER := 0;
BEGIN
    FOR name IN
        SELECT DISTINCT stream_name FROM {schema}.engine_streams
        WHERE expired_at IS NULL AND visible_at <= now()
          AND (reserved_at IS NULL OR reserved_at < now() - stale_after)
        LIMIT 50
    LOOP
        PERFORM pg_notify(left('eng_' || name, 63),
                          json_build_object('stream_name', name, 'table_type', 'engine')::text);
        total := total + 1;
    END LOOP;
    FOR name IN
        SELECT DISTINCT stream_name FROM {schema}.worker_streams
        WHERE expired_at IS NULL AND visible_at <= now()
          AND (reserved_at IS NULL OR reserved_at < now() - stale_after)
        LIMIT 50
    LOOP
        PERFORM pg_notify(left('wrk_' || name, 63),
                          json_build_object('stream_name', name, 'table_type', 'worker')::text);
        total := total + 1;
    END LOOP;
    RETURN total;
END $fn$;
