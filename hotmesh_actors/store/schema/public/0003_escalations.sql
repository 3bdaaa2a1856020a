-- Escalations (SPEC §2.9): one live row per signal key, and the indexes the escalations API reads through.
--
-- A signal key may be waited on again once its earlier wait is over (a condition id reused by a later wait,
-- a hook in a cycle keyed by its job id), so uniqueness holds among live (pending) rows only: the earlier
-- rows stay as the audit record and no longer block the next wait's row.
DROP INDEX IF EXISTS public.idx_hmsh_esc_signal_key;
CREATE UNIQUE INDEX IF NOT EXISTS idx_hmsh_esc_signal_key_live
    ON public.hmsh_escalations (namespace, app_id, signal_key) WHERE signal_key IS NOT NULL AND status = 'pending';
CREATE INDEX IF NOT EXISTS idx_hmsh_esc_signal_key
    ON public.hmsh_escalations (namespace, app_id, signal_key) WHERE signal_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_hmsh_esc_available_expiry
    ON public.hmsh_escalations (namespace, app_id, expires_at) WHERE status = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_hmsh_esc_entity ON public.hmsh_escalations (entity) WHERE entity IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_hmsh_esc_origin ON public.hmsh_escalations (origin_id) WHERE origin_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_hmsh_esc_task ON public.hmsh_escalations (task_id) WHERE task_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_hmsh_esc_stats_pending
    ON public.hmsh_escalations (namespace, role, type) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_hmsh_esc_stats_created ON public.hmsh_escalations (namespace, created_at);
CREATE INDEX IF NOT EXISTS idx_hmsh_esc_stats_resolved
    ON public.hmsh_escalations (namespace, resolved_at) WHERE status = 'resolved';
-- prune: terminal rows by age
CREATE INDEX IF NOT EXISTS idx_hmsh_esc_terminal
    ON public.hmsh_escalations (namespace, updated_at) WHERE status <> 'pending';
