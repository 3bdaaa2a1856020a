-- App and version rows (global tables, SPEC §2.1).

-- name: ensure_app
INSERT INTO public.hmsh_applications (app_id, version, active) VALUES ($1, $2, FALSE)
ON CONFLICT (app_id) DO NOTHING;

-- name: save_version
INSERT INTO public.hmsh_application_versions (app_id, version, status, definition)
VALUES ($1, $2, 'deployed', $3::jsonb)
ON CONFLICT (app_id, version) DO UPDATE SET definition = EXCLUDED.definition, deployed_at = now();

-- name: activate
WITH app AS (
    UPDATE public.hmsh_applications SET version = $2, active = TRUE, updated_at = now()
    WHERE app_id = $1 AND EXISTS (
        SELECT 1 FROM public.hmsh_application_versions WHERE app_id = $1 AND version = $2)
    RETURNING app_id
)
UPDATE public.hmsh_application_versions SET status = 'activated'
WHERE app_id = $1 AND version = $2 AND EXISTS (SELECT 1 FROM app)
RETURNING version;

-- name: active_version
SELECT a.version, v.definition::text AS definition
FROM public.hmsh_applications a
JOIN public.hmsh_application_versions v ON v.app_id = a.app_id AND v.version = a.version
WHERE a.app_id = $1 AND a.active;

-- name: register_connection
INSERT INTO public.hmsh_connections (guid, app_id, role, version) VALUES ($1, $2, $3, $4)
ON CONFLICT (guid, app_id) DO UPDATE SET connected_at = now(), role = EXCLUDED.role;
