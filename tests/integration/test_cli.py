"""The `hotmesh` command run as a user runs it (a subprocess) against the database under test: every command
with --json, the text forms, errors, the progress bar on a terminal and none when piped, `serve`, and
HMSH_LOGLEVEL. (`timeline` is in test_timeline.py, `chaos` in tests/chaos/test_chaos_kit.py.)"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .activities_kit import app_yaml
from .conformance_kit import ROOT, graph_yaml
from .test_deploy_warnings import manifest

WAITING = """
- subscribes: cli.wait
  expire: 120
  activities:
    t1:
      type: trigger
      job:
        maps:
          who: '{$self.output.data.who}'
    approval:
      type: hook
      hook:
        type: object
        properties:
          approved: {type: boolean}
      job:
        maps:
          approved: '{$self.hook.data.approved}'
  transitions:
    t1:
      - to: approval
  hooks:
    cli.approve:
      - to: approval
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
"""


def _cli(*args: str, dsn: str | None = None, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `python -m hotmesh_actors ARGS` (with `--dsn` when given); stdout and stderr are pipes."""
    command = [sys.executable, "-m", "hotmesh_actors", *args, *(["--dsn", dsn] if dsn else [])]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                            timeout=120, check=False)
    if check:
        assert result.returncode == 0, f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def _json(*args: str, dsn: str) -> Any:
    return json.loads(_cli(*args, "--json", dsn=dsn).stdout)


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return str(path)


def test_a_job_driven_end_to_end_with_json_output(pg_dsn: str, app_id: str, tmp_path: Path) -> None:
    graph = _write(tmp_path, "wait.yaml", app_yaml(app_id, WAITING))
    deployed = _json("deploy", graph, "--app", app_id, dsn=pg_dsn)
    assert deployed == {"deployed": [{"path": graph, "app_id": app_id, "version": "1", "graphs": ["cli.wait"],
                                      "warnings": []}]}
    assert _json("activate", "1", "--app", app_id, dsn=pg_dsn) == {"activated": "1"}
    job_id = _json("pub", "cli.wait", '{"who": "ann"}', "--job-id", "cli-job-1", "--app", app_id,
                   dsn=pg_dsn)["job_id"]
    assert job_id == "cli-job-1"
    assert _json("status", job_id, "--app", app_id, dsn=pg_dsn) == {"job_id": job_id, "status": 1}
    state = _json("state", job_id, "--app", app_id, dsn=pg_dsn)
    assert state["data"] == {"who": "ann"} and state["metadata"]["jid"] == job_id
    assert any(field.startswith("data/who") for field in _json("raw", job_id, "--app", app_id, dsn=pg_dsn))
    assert _json("query", job_id, '"who"', "--app", app_id, dsn=pg_dsn) == {'"who"': "ann"}
    with _serving(app_id, pg_dsn):  # an engine (no workers) to deliver the signal
        guid = _json("signal", "cli.approve", json.dumps({"id": job_id, "approved": True}), "--app", app_id,
                     dsn=pg_dsn)["signal"]
        assert isinstance(guid, str) and guid
        deadline = time.monotonic() + 30
        while _json("status", job_id, "--app", app_id, dsn=pg_dsn)["status"] != 0:
            assert time.monotonic() < deadline, "the signalled job did not complete"
            time.sleep(0.2)
    assert _json("state", job_id, "--app", app_id, dsn=pg_dsn)["data"] == {"who": "ann", "approved": True}
    export = _json("export", job_id, "--app", app_id, dsn=pg_dsn)
    assert {activity["activity_id"] for activity in export["activities"]} >= {"t1", "approval"}
    second = _json("pub", "cli.wait", "--app", app_id, dsn=pg_dsn)["job_id"]
    assert _json("interrupt", "cli.wait", second, "--reason", "test", "--app", app_id, dsn=pg_dsn) == {
        "interrupted": second}
    assert _json("status", second, "--app", app_id, dsn=pg_dsn)["status"] < -100_000_000
    assert _json("scrub", second, "--app", app_id, dsn=pg_dsn) == {"scrubbed": second}
    missing = _cli("status", second, "--app", app_id, "--json", dsn=pg_dsn, check=False)
    assert missing.returncode == 1
    assert json.loads(missing.stdout) == {"job_id": second, "error": {
        "type": "JobNotFoundError", "message": f"Job {second} not found"}}


def test_pubsub_runs_a_trigger_only_job_and_prints_its_output(pg_dsn: str, app_id: str, tmp_path: Path) -> None:
    graph = _write(tmp_path, "v1.yaml", graph_yaml("abc/v1.yaml", app_id))
    _cli("--app", app_id, "deploy", graph, dsn=pg_dsn)
    _cli("--app", app_id, "activate", "1", dsn=pg_dsn)
    output = _json("--app", app_id, "pubsub", "abc.test", "--job-id", "one", dsn=pg_dsn)
    assert output["metadata"]["jid"] == "one" and output["metadata"]["js"] == 0


def test_text_forms_are_short_lines(pg_dsn: str, app_id: str, tmp_path: Path) -> None:
    graph = _write(tmp_path, "wait.yaml", app_yaml(app_id, WAITING))
    assert _cli("deploy", graph, "--app", app_id, dsn=pg_dsn).stdout == (
        f"deployed {app_id} v1 from {graph} (graphs: cli.wait)\n")
    assert _cli("activate", "1", "--app", app_id, dsn=pg_dsn).stdout == f"activated {app_id} v1\n"
    job_id = _cli("pub", "cli.wait", "--app", app_id, dsn=pg_dsn).stdout.strip()
    assert _cli("status", job_id, "--app", app_id, dsn=pg_dsn).stdout == f"{job_id} 1 (running)\n"
    pruned = _cli("prune", "--retention", "1 day", "--app", app_id, dsn=pg_dsn)
    assert pruned.stdout == "pruned jobs 0, engine_streams 0, worker_streams 0, signals 0\n"
    assert pruned.stderr == ""  # piped: no progress bar


@pytest.mark.parametrize(("args", "message"), [
    (("activate", "9"), "version '9' of app '{app}' was never deployed: deploy it first"),
    (("pub", "cli.wait", "[1, 2]"), "data must be a JSON object, not list"),
    (("pub", "cli.wait", "{nope"), "data must be a JSON object, e.g."),
    (("prune", "--retention", "a while"), "--retention: not a duration: 'a while'"),
    (("state", "no-such-job"), "Job no-such-job not found"),
])
def test_errors_exit_1_with_a_message_on_stderr_or_as_json(args: tuple[str, ...], message: str, pg_dsn: str,
                                                            app_id: str, tmp_path: Path) -> None:
    graph = _write(tmp_path, "wait.yaml", app_yaml(app_id, WAITING))
    _cli("--app", app_id, "deploy", graph, dsn=pg_dsn)
    _cli("--app", app_id, "activate", "1", dsn=pg_dsn)
    expected = message.format(app=app_id)
    plain = _cli("--app", app_id, *args, dsn=pg_dsn, check=False)
    assert plain.returncode == 1 and plain.stdout == ""
    assert plain.stderr.startswith("error: ") and expected in plain.stderr
    wrapped = _cli("--app", app_id, *args, "--json", dsn=pg_dsn, check=False)
    assert wrapped.returncode == 1 and expected in json.loads(wrapped.stdout)["error"]["message"]


def test_hotmesh_dsn_is_the_default_database(pg_dsn: str, app_id: str, tmp_path: Path) -> None:
    graph = _write(tmp_path, "v1.yaml", graph_yaml("abc/v1.yaml", app_id))
    result = _cli("--app", app_id, "--json", "deploy", graph, env={"HOTMESH_DSN": pg_dsn})
    assert json.loads(result.stdout)["deployed"][0]["version"] == "1"
    unreachable = _cli("--app", app_id, "deploy", graph, dsn="postgresql://nobody@127.0.0.1:1/none", check=False)
    assert unreachable.returncode == 1 and "cannot connect to Postgres" in unreachable.stderr


def _with_tty_stderr(args: list[str]) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (stdout piped); returns (status, stdout, terminal text)."""
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen([sys.executable, "-m", "hotmesh_actors", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=slave, text=True)
        os.close(slave)
        chunks: list[bytes] = []
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        stdout, _ = process.communicate(timeout=60)
    finally:
        os.close(master)
    return process.returncode, stdout, b"".join(chunks).decode(errors="replace")


def test_long_operations_draw_a_progress_bar_on_a_terminal(pg_dsn: str, app_id: str, tmp_path: Path) -> None:
    graphs = [_write(tmp_path, f"v{n}.yaml", graph_yaml(f"abc/v{n}.yaml", app_id)) for n in (1, 2, 4, 5)]
    status, stdout, terminal = _with_tty_stderr(["--app", app_id, "--dsn", pg_dsn, "--json", "deploy", *graphs])
    assert status == 0, terminal
    assert [item["version"] for item in json.loads(stdout)["deployed"]] == ["1", "2", "4", "5"]
    assert "deploy [" in terminal and "] 4/4" in terminal
    status, stdout, terminal = _with_tty_stderr(["--app", app_id, "--dsn", pg_dsn, "prune", "--no-signals"])
    assert status == 0, terminal
    assert "prune [" in terminal and "] 2/2" in terminal
    assert stdout.startswith("pruned jobs ")
    piped = _cli("--app", app_id, "--json", "deploy", *graphs, dsn=pg_dsn)
    assert piped.stderr == ""  # the same deploy piped: no bar


@contextmanager
def _serving(app_id: str, dsn: str, *options: str) -> Iterator[dict[str, Any]]:
    """`hotmesh serve` in the background; yields its ready line; stops it with SIGTERM, which must exit 0."""
    server = subprocess.Popen([sys.executable, "-m", "hotmesh_actors", "serve", *options, "--app", app_id,
                               "--dsn", dsn, "--json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line, server.stderr.read() if server.stderr else "no output"
        yield json.loads(line)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_serve_runs_workers_until_sigterm(pg_dsn: str, app_id: str, tmp_path: Path) -> None:
    graph = _write(tmp_path, "order.yaml", graph_yaml("order.yaml", app_id))
    _cli("--app", app_id, "deploy", graph, dsn=pg_dsn)
    _cli("--app", app_id, "activate", "1", dsn=pg_dsn)
    with _serving(app_id, pg_dsn, "--workers", "examples/order_yaml.py:WORKERS", "--no-engine") as ready:
        assert ready["serving"] == app_id and ready["engine"] is False
        assert ready["workers"] == ["inventory.check", "inventory.reserve", "inventory.backorder.notify"]
        # the engine runs in the pubsub process; the workers only in the server
        output = _json("--app", app_id, "pubsub", "order.requested", '{"itemId": "item-123", "requestedQty": 5}',
                       "--timeout", "30", dsn=pg_dsn)
        assert output["data"]["status"] == "reserved"


def test_hmsh_loglevel_sets_what_the_command_logs_to_stderr(pg_dsn: str, app_id: str, tmp_path: Path) -> None:
    graph = _write(tmp_path, "warned.yaml", manifest(app_id))  # two keys HotMesh ignores: two warnings
    default = _cli("--app", app_id, "deploy", graph, dsn=pg_dsn)
    assert default.stderr.count("WARNING hotmesh_actors.deploy: ") == 2
    silent = _cli("--app", app_id, "deploy", graph, dsn=pg_dsn, env={"HMSH_LOGLEVEL": "silent"})
    assert silent.stderr == "" and "2 warnings" in silent.stdout
    bogus = _cli("--app", app_id, "deploy", graph, dsn=pg_dsn, env={"HMSH_LOGLEVEL": "loud"}, check=False)
    assert bogus.returncode == 1 and "log level 'loud' is not one of" in bogus.stderr
