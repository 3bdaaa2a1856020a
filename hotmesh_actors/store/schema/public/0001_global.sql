-- Global tables shared by every app (SPEC §2.1, §2.9).
CREATE TABLE IF NOT EXISTS public.hmsh_applications (
    app_id     TEXT PRIMARY KEY,
    version    TEXT NOT NULL DEFAULT '1',
    active     BOOLEAN DEFAULT TRUE,
    settings   JSONB DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.hmsh_application_versions (
    app_id      TEXT NOT NULL REFERENCES public.hmsh_applications (app_id) ON DELETE CASCADE,
    version     TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'deployed' CHECK (status IN ('deployed', 'activated')),
    definition  JSONB,
    deployed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, version)
);

CREATE TABLE IF NOT EXISTS public.hmsh_connections (
    guid         TEXT NOT NULL,
    app_id       TEXT NOT NULL,
    role         TEXT,
    version      TEXT,
    connected_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (guid, app_id)
);

CREATE TABLE IF NOT EXISTS public.hmsh_escalations (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    namespace          TEXT NOT NULL,
    app_id             TEXT NOT NULL,
    signal_key         TEXT,
    topic              TEXT,
    workflow_id        TEXT,
    task_queue         TEXT,
    workflow_type      TEXT,
    type               TEXT,
    subtype            TEXT,
    entity             TEXT,
    description        TEXT,
    role               TEXT,
    status             TEXT NOT NULL DEFAULT 'pending',
    priority           INT NOT NULL DEFAULT 5,
    assigned_to        TEXT,
    assigned_until     TIMESTAMPTZ,
    claimed_at         TIMESTAMPTZ,
    claim_expires_at   TIMESTAMPTZ,
    resolved_at        TIMESTAMPTZ,
    escalation_payload JSONB,
    resolver_payload   JSONB,
    envelope           JSONB,
    metadata           JSONB,
    origin_id          TEXT,
    parent_id          TEXT,
    initiated_by       TEXT,
    created_by         TEXT,
    milestones         JSONB NOT NULL DEFAULT '[]'::jsonb,
    trace_id           TEXT,
    span_id            TEXT,
    expires_at         TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    task_id            TEXT
);

CREATE UNIQUE INDEX IF NOT EXISTS idx_hmsh_esc_signal_key
    ON public.hmsh_escalations (namespace, app_id, signal_key) WHERE signal_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_hmsh_esc_available
    ON public.hmsh_escalations (namespace, app_id, role, priority, created_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_hmsh_esc_assigned
    ON public.hmsh_escalations (assigned_to, assigned_until, created_at DESC)
    WHERE status = 'pending' AND assigned_to IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_hmsh_esc_workflow ON public.hmsh_escalations (workflow_id) WHERE workflow_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_hmsh_esc_metadata ON public.hmsh_escalations USING GIN (metadata jsonb_path_ops);
