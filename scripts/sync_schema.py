"""Copy the packaged DSL schema to docs/ (or, with --check, fail when the two differ).

The schema ships inside the package (hotmesh_actors/core/graph/hotmesh.schema.json, the source of
truth) and is published for editors and readers as docs/hotmesh.schema.json.

    python scripts/sync_schema.py          # copy
    python scripts/sync_schema.py --check  # exit 1 when docs/ is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGED = REPO / "hotmesh_actors" / "core" / "graph" / "hotmesh.schema.json"
DOCS = REPO / "docs" / "hotmesh.schema.json"


def main(argv: list[str]) -> int:
    """Copy or check; return the process exit status."""
    source = PACKAGED.read_bytes()
    current = DOCS.read_bytes() if DOCS.exists() else None
    if "--check" in argv:
        if current != source:
            print(f"{DOCS} differs from {PACKAGED}; run: python scripts/sync_schema.py", file=sys.stderr)
            return 1
        return 0
    if current != source:
        DOCS.parent.mkdir(parents=True, exist_ok=True)
        DOCS.write_bytes(source)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
