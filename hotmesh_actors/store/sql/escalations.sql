-- Escalations (public.hmsh_escalations, SPEC §2.9). Every query is scoped to one namespace ($1) and app ($2).
-- A row is claimed while pending with a live window (assigned_until in the future); `available` is a pending
-- row nobody actively holds (a pre-assignment without a window counts as held, as in HotMesh).

-- name: columns
id::text AS id, namespace, app_id, signal_key, topic, workflow_id, task_queue, workflow_type, type, subtype,
entity, description, role, status, priority, assigned_to, assigned_until, claimed_at, claim_expires_at,
resolved_at, escalation_payload::text AS escalation_payload, resolver_payload::text AS resolver_payload,
envelope::text AS envelope, metadata::text AS metadata, origin_id, parent_id, initiated_by, created_by,
milestones::text AS milestones, trace_id, span_id, expires_at, created_at, updated_at, task_id,
(status = 'pending' AND (assigned_to IS NULL OR (assigned_until IS NOT NULL AND assigned_until <= now())))
    AS available

-- name: filters
namespace = $1 AND app_id = $2
AND ($3::text IS NULL OR role = $3)
AND ($4::text[] IS NULL OR role = ANY($4::text[]))
AND ($5::text IS NULL OR type = $5)
AND ($6::text IS NULL OR subtype = $6)
AND ($7::text IS NULL OR entity = $7)
AND ($8::text IS NULL OR status = $8)
AND ($9::text IS NULL OR assigned_to = $9)
AND ($10::text IS NULL OR workflow_id = $10)
AND ($11::text IS NULL OR origin_id = $11)
AND ($12::boolean IS NULL OR $12 = (status = 'pending' AND (assigned_to IS NULL
                                     OR (assigned_until IS NOT NULL AND assigned_until <= now()))))
AND ($13::int IS NULL OR priority = $13)
AND ($14::jsonb IS NULL OR metadata @> $14::jsonb)
AND ($15::uuid[] IS NULL OR id = ANY($15::uuid[]))
AND ($16::text IS NULL OR task_id = $16)

-- name: list
-- {columns}, {filters} and {order} are filled from the fragments above and a whitelisted ORDER BY.
SELECT {columns} FROM public.hmsh_escalations WHERE {filters} ORDER BY {order} LIMIT $17 OFFSET $18;

-- name: count
SELECT count(*) FROM public.hmsh_escalations WHERE {filters};

-- name: get
SELECT {columns} FROM public.hmsh_escalations WHERE namespace = $1 AND app_id = $2 AND id = $3::uuid;

-- name: lock
-- The row, locked for the caller's transaction, with whether its claim window is live now.
SELECT id::text AS id, status, signal_key, topic, assigned_to,
       (assigned_until IS NOT NULL AND assigned_until > now()) AS claim_live,
       (assigned_until IS NULL) AS no_window
FROM public.hmsh_escalations WHERE namespace = $1 AND app_id = $2 AND id = $3::uuid
FOR UPDATE;

-- name: lock_nowait
-- As lock, but a row another transaction holds is skipped (claim answers `conflict` at once).
SELECT id::text AS id, status, signal_key, topic, assigned_to,
       (assigned_until IS NOT NULL AND assigned_until > now()) AS claim_live,
       (assigned_until IS NULL) AS no_window
FROM public.hmsh_escalations WHERE namespace = $1 AND app_id = $2 AND id = $3::uuid
FOR UPDATE SKIP LOCKED;

-- name: exists
SELECT EXISTS (SELECT 1 FROM public.hmsh_escalations WHERE namespace = $1 AND app_id = $2 AND id = $3::uuid);

-- name: lock_many
-- Rows $3, locked in id order (two overlapping batches then queue on their first shared row: no deadlock).
SELECT id::text AS id, status, signal_key, topic, assigned_to
FROM public.hmsh_escalations WHERE namespace = $1 AND app_id = $2 AND id = ANY($3::uuid[])
ORDER BY id
FOR UPDATE;

-- name: claim
UPDATE public.hmsh_escalations
SET assigned_to = $4, claimed_at = now(), claim_expires_at = now() + make_interval(secs => $5),
    assigned_until = now() + make_interval(secs => $5), updated_at = now()
WHERE namespace = $1 AND app_id = $2 AND id = $3::uuid
RETURNING {columns};

-- name: release
UPDATE public.hmsh_escalations
SET assigned_to = NULL, assigned_until = NULL, claimed_at = NULL, claim_expires_at = NULL, updated_at = now()
WHERE namespace = $1 AND app_id = $2 AND id = $3::uuid
RETURNING {columns};

-- name: resolve
UPDATE public.hmsh_escalations
SET status = 'resolved', resolved_at = now(), resolver_payload = $4::jsonb,
    metadata = CASE WHEN $5::jsonb IS NULL THEN metadata ELSE COALESCE(metadata, jsonb_build_object()) || $5::jsonb END,
    updated_at = now()
WHERE namespace = $1 AND app_id = $2 AND id = $3::uuid AND status = 'pending'
RETURNING {columns};

-- name: resolve_many
-- Resolve rows $3 with payloads $4 (pairwise), merging metadata $5 into each.
UPDATE public.hmsh_escalations AS e
SET status = 'resolved', resolved_at = now(), resolver_payload = i.payload::jsonb,
    metadata = CASE WHEN $5::jsonb IS NULL THEN e.metadata ELSE COALESCE(e.metadata, jsonb_build_object()) || $5::jsonb END,
    updated_at = now()
FROM unnest($3::uuid[], $4::text[]) AS i(row_id, payload)
WHERE e.namespace = $1 AND e.app_id = $2 AND e.id = i.row_id AND e.status = 'pending'
RETURNING {columns};

-- name: cancel
UPDATE public.hmsh_escalations SET status = 'cancelled', updated_at = now()
WHERE namespace = $1 AND app_id = $2 AND id = $3::uuid AND status = 'pending'
RETURNING {columns};

-- name: prune
-- Delete up to $5 terminal rows (statuses $3) not updated for $4 seconds; live rows are never touched.
WITH doomed AS (
    SELECT id FROM public.hmsh_escalations
    WHERE namespace = $1 AND app_id = $2 AND status = ANY($3::text[]) AND status <> 'pending'
      AND updated_at < now() - make_interval(secs => $4)
    LIMIT $5
    FOR UPDATE SKIP LOCKED)
DELETE FROM public.hmsh_escalations AS e USING doomed WHERE e.id = doomed.id
RETURNING 1;

-- name: insert
-- A suspended hook's row, written in its Leg-1 step; a live row with this signal key already stands for it.
INSERT INTO public.hmsh_escalations
    (namespace, app_id, signal_key, topic, workflow_id, task_queue, workflow_type, type, subtype, entity,
     description, role, priority, origin_id, parent_id, initiated_by, trace_id, span_id, task_id, metadata,
     envelope, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20::jsonb, $21::jsonb,
        $22)
ON CONFLICT (namespace, app_id, signal_key) WHERE signal_key IS NOT NULL AND status = 'pending' DO NOTHING;

-- name: settle
-- The hook's wait ended (its timer fired: 'expired'; a signal resumed it: 'resolved'); a row already settled
-- (resolved or cancelled through the API) is left as it is.
UPDATE public.hmsh_escalations
SET status = $5, updated_at = now(),
    resolved_at = CASE WHEN $5 = 'resolved' THEN now() ELSE resolved_at END,
    resolver_payload = CASE WHEN $5 = 'resolved' THEN COALESCE(resolver_payload, $6::jsonb) ELSE resolver_payload END
WHERE namespace = $1 AND app_id = $2 AND signal_key = $3 AND workflow_id = $4 AND status = 'pending';
