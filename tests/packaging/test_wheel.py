"""The package installs like any other: the built wheel and sdist carry every file the library reads, and the
wheel, installed into a fresh venv outside the checkout, runs the demo on the embedded default and opens a mesh.

The slow tests (marker `wheel`, run by default) build once per module: `python -m build` (the sdist, then the
wheel from the unpacked sdist, which proves the sdist is complete) when `build` is installed, else `pip wheel`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "hotmesh_actors"

REQUIRED_RESOURCES = {
    "py.typed",
    "core/graph/hotmesh.schema.json",
    "demo/order.yaml",
    "store/sql/apps.sql",
    "store/sql/chaos.sql",
    "store/sql/escalations.sql",
    "store/sql/jobs.sql",
    "store/sql/schedule.sql",
    "store/sql/steps.sql",
    "store/sql/streams.sql",
    "store/schema/public/0001_global.sql",
    "store/schema/public/0002_app_schemas.sql",
    "store/schema/public/0003_escalations.sql",
    "store/schema/app/0001_app.sql",
    "store/schema/app/0002_streams.sql",
    "store/schema/app/0003_job_index.sql",
    "store/schema/app/0004_lean_step.sql",
}
"""Files the library reads at run time; each must exist in the source tree and in both archives."""


def _source_resources() -> set[str]:
    """Every non-Python file of the package's source tree, relative to `hotmesh_actors/`."""
    return {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*")
            if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts}


# -- fast checks ---------------------------------------------------------------------------------------


def test_required_resources_are_the_package_data_files() -> None:
    # the explicit list cannot silently go stale: it is exactly what the source tree ships besides code
    assert _source_resources() == REQUIRED_RESOURCES


def test_library_reads_no_file_next_to_its_source() -> None:
    offenders = [str(path.relative_to(ROOT)) for path in PACKAGE.rglob("*.py")
                 if "__file__" in path.read_text("utf-8")]
    assert offenders == [], "read resources with importlib.resources, not paths built from __file__"


def test_repository_order_graph_is_the_packaged_demo_graph() -> None:
    # graphs/order.yaml (used by the README, examples and tests) must not drift from what `hotmesh demo` runs
    packaged = (PACKAGE / "demo" / "order.yaml").read_bytes()
    assert (ROOT / "graphs" / "order.yaml").read_bytes() == packaged


# -- build, install, run -------------------------------------------------------------------------------


@attrs.frozen
class Built:
    """The archives built from the checkout (sdist is None when `build` is not installed)."""

    wheel: Path
    sdist: Path | None


@attrs.frozen
class Installed:
    """A fresh venv outside the checkout with the built wheel installed."""

    venv: Path
    python: Path
    hotmesh: Path
    workdir: Path


def _clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without anything that could import the checkout or pick a database."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"HOTMESH_DSN", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "HMSH_EMBEDDED_DIR"}}
    env.update(extra)
    return env


def _run(args: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(arg) for arg in args], cwd=cwd, env=env or _clean_env(), capture_output=True,
                            text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


# What a fresh clone does not have: build output, caches, and the `*.egg-info` an editable install leaves,
# whose stale SOURCES.txt would smuggle files into the sdist that the package-data globs miss.
NOT_IN_A_CLONE = shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "dist", "__pycache__",
                                        ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
                                        "node_modules")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    source = tmp_path_factory.mktemp("clone") / "hotmesh_actors"
    shutil.copytree(ROOT, source, ignore=NOT_IN_A_CLONE)
    out = tmp_path_factory.mktemp("dist")
    if importlib.util.find_spec("build") is not None:
        _run([sys.executable, "-m", "build", "--outdir", out, source], cwd=out)
        [sdist] = out.glob("hotmesh_actors-*.tar.gz")
    else:
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", out, source], cwd=out)
        sdist = None
    [wheel] = out.glob("hotmesh_actors-*.whl")
    return Built(wheel=wheel, sdist=sdist)


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    venv = tmp_path_factory.mktemp("venv")
    assert not venv.is_relative_to(ROOT)
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv)
    python = venv / "bin" / "python"
    # the test venv's pip installs into the fresh one (no ensurepip); dependencies come from the index
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", built.wheel], cwd=venv,
         timeout=600)
    workdir = tmp_path_factory.mktemp("elsewhere")
    return Installed(venv=venv, python=python, hotmesh=venv / "bin" / "hotmesh", workdir=workdir)


@pytest.mark.wheel
def test_wheel_carries_every_resource(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        names = set(archive.namelist())
    missing = {f"hotmesh_actors/{name}" for name in REQUIRED_RESOURCES} - names
    assert not missing, f"the wheel lacks {sorted(missing)}"
    assert not any(name.startswith(("tests/", "graphs/")) for name in names)


@pytest.mark.wheel
def test_sdist_carries_every_resource(built: Built) -> None:
    if built.sdist is None:
        pytest.skip("the `build` package is not installed (it is in the [test] extra)")
    with tarfile.open(built.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    missing = {f"hotmesh_actors/{name}" for name in REQUIRED_RESOURCES} - names
    assert not missing, f"the sdist lacks {sorted(missing)}"
    assert {"pyproject.toml", "README.md"} <= names


def _demo_results(stdout: str) -> dict[str, dict[str, object]]:
    """The demo's JSON lines, keyed by item id; the step lines must follow each."""
    lines = stdout.strip().splitlines()
    results = {}
    for line in lines:
        if line.startswith("{"):
            record = json.loads(line)
            assert isinstance(record["job_id"], str) and record["job_id"]
            results[record["order"]["itemId"]] = record["result"]
    steps = [line.strip() for line in lines if line.strip().startswith("steps:")]
    assert steps == ["steps: trigger → checkInventory → reserveItem",
                     "steps: trigger → checkInventory → notifyBackorder"], stdout
    return results


@pytest.mark.wheel
@pytest.mark.skipif(sys.platform == "win32", reason="the embedded Postgres listens on a unix socket")
def test_installed_wheel_runs_the_demo_on_the_embedded_default(installed: Installed, tmp_path: Path) -> None:
    env = _clean_env(HMSH_EMBEDDED_DIR=str(tmp_path / "pgdata"))  # no HOTMESH_DSN: the embedded default
    where = _run([installed.python, "-c", "import hotmesh_actors; print(hotmesh_actors.__file__)"],
                 cwd=installed.workdir, env=env)
    assert Path(where.stdout.strip()).is_relative_to(installed.venv), where.stdout
    for command in ([installed.hotmesh, "demo"], [installed.python, "-m", "hotmesh_actors", "demo"]):
        result = _run(command, cwd=installed.workdir, env=env)
        assert _demo_results(result.stdout) == {
            "item-123": {"itemId": "item-123", "requestedQty": 5, "availableQty": 7,
                         "reservationId": "res-item-123-5", "status": "reserved"},
            "item-456": {"itemId": "item-456", "requestedQty": 5, "availableQty": 2, "status": "backordered"},
        }, command
    assert (tmp_path / "pgdata" / "PG_VERSION").exists()  # it really ran on the embedded server it was given
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists()  # and stopped it on the way out


MESH_SCRIPT = textwrap.dedent("""
    import json, sys
    import trio
    import hotmesh_actors
    from hotmesh_actors import HotMesh, Worker

    APP = sys.argv[2]
    YAML = f'''
    app:
      id: {APP}
      version: '1'
      graphs:
        - subscribes: w.start
          activities:
            t1: {{type: trigger}}
            a1:
              type: worker
              topic: w.double
              input: {{maps: {{n: '{{t1.output.data.n}}'}}}}
              job: {{maps: {{doubled: '{{$self.output.data.doubled}}'}}}}
          transitions:
            t1: [{{to: a1}}]
    '''

    async def double(msg):
        return {"data": {"doubled": msg.data["n"] * 2}}

    async def main():
        async with HotMesh.open(app_id=APP, dsn=sys.argv[1], workers=[Worker("w.double", double)]) as mesh:
            await mesh.deploy(YAML)
            assert await mesh.activate("1")
            output = await mesh.pubsub("w.start", {"n": 21}, timeout=30)
        print(json.dumps({"file": hotmesh_actors.__file__, "data": output["data"]}))

    trio.run(main)
""")


@pytest.mark.wheel
def test_installed_wheel_opens_a_mesh_on_the_test_database(installed: Installed, pg_dsn: str, app_id: str) -> None:
    result = _run([installed.python, "-c", MESH_SCRIPT, pg_dsn, app_id], cwd=installed.workdir)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(installed.venv), report  # the wheel's copy, not the checkout
    assert report["data"] == {"doubled": 42}

