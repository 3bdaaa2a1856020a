"""The README's quick start and the demo command run as written (against the database under test)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env={**os.environ, "HOTMESH_DSN": dsn}, capture_output=True, text=True,
                          timeout=120, check=False)


def test_readme_quick_start_runs_as_written(pg_dsn: str) -> None:
    readme = (ROOT / "README.md").read_text()
    code = re.findall(r"```python\n(.*?)```", readme, re.S)[0]
    result = _run([sys.executable, "-c", code], pg_dsn)
    assert result.returncode == 0, result.stderr
    assert "'status': 'reserved'" in result.stdout


def test_readme_asyncio_form_runs_as_written(pg_dsn: str) -> None:
    """The asyncio form of the quick start (section "From asyncio or anyio") gives the same output."""
    readme = (ROOT / "README.md").read_text()
    [code] = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "asyncio.run(main())" in block]
    result = _run([sys.executable, "-c", code], pg_dsn)
    assert result.returncode == 0, result.stderr
    assert "'status': 'reserved'" in result.stdout


def test_readme_first_lines_give_the_two_setup_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```bash") + 1: lines.index("```bash") + 3]
    assert block[0].endswith("python -m hotmesh_actors demo")
    assert block[1].endswith("python -m pytest -q")
    ci = (ROOT / ".ci" / "run").read_text()
    assert block[1] in ci


def test_demo_command_runs_the_order_flow(pg_dsn: str) -> None:
    result = _run([sys.executable, "-m", "hotmesh_actors", "demo"], pg_dsn)
    assert result.returncode == 0, result.stderr
    assert '"status": "reserved"' in result.stdout and '"status": "backordered"' in result.stdout


async def test_readme_sql_reads_a_job_by_field_name(pg_dsn: str) -> None:
    """Both SQL queries of the README answer for a real order job: the document and HotMesh's rows."""
    import trio

    from hotmesh_actors import HotMesh, StreamMessage, Worker

    async def check(msg: StreamMessage) -> dict[str, object]:
        return {"data": {"availableQty": 7}}

    async def reserve(msg: StreamMessage) -> dict[str, object]:
        return {"data": {"reservationId": "res-1"}}

    readme = (ROOT / "README.md").read_text()
    queries = re.findall(r"```sql\n(.*?)```", readme, re.S)
    assert len(queries) == 2
    app_id = "orders"
    workers = [Worker("inventory.check", check), Worker("inventory.reserve", reserve),
               Worker("inventory.backorder.notify", reserve)]
    async with HotMesh.open(app_id=app_id, dsn=pg_dsn, workers=workers) as mesh:
        await mesh.deploy(str(ROOT / "graphs" / "order.yaml"))
        await mesh.activate("1")
        with trio.fail_after(30):
            output = await mesh.pubsub("order.requested", {"itemId": "item-123", "requestedQty": 5}, timeout=20)
        jid = output["metadata"]["jid"]
        document = await mesh.db.fetch(queries[0].replace("<job id>", jid))
        rows = await mesh.db.fetch(queries[1].replace("<job id>", jid))
    [row] = document
    assert row["status"] == 0 and row["available"] == "7"
    fields = {(r["field"], r["dimension"]): r["value"] for r in rows}
    assert fields[("checkInventory/output/data/availableQty", ",0,0")] == "/d7"
    assert fields[("data/status", "")] == "reserved"
