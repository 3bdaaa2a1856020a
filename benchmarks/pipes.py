"""How many 5-row @pipe evaluations per second: one-shot `resolve` vs a compiled pipe vs plain Python.

Prints one JSON line. `measure_pipe_evals()` is importable so other benchmarks can add their figures
(e.g. graph compile time) to the same line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from hotmesh_actors.core.pipe import PipeEnv, compile_value, resolve

ENV = PipeEnv(now_ms=1_700_000_000_000, random=lambda: 0.5, fidelity_seconds=5)

CONTEXT = {"a": {"output": {"data": {"first_name": "John", "last_name": "Doe"}}}}

FIVE_ROW_PIPE = {
    "@pipe": [
        ["{a.output.data.first_name}", 0],
        ["{@string.charAt}", "{a.output.data.last_name}"],
        ["{@string.concat}"],
        ["{@string.toLowerCase}", "-", "{a.output.data.first_name}"],
        ["{@string.concat}"],
    ]
}
EXPECTED = "jdoe-John"


def _python_equivalent(context: dict[str, dict[str, dict[str, dict[str, str]]]]) -> str:
    """The same computation hand-written, as the reference figure."""
    data = context["a"]["output"]["data"]
    return (data["first_name"][0] + data["last_name"]).lower() + "-" + data["first_name"]


def _rate(function: Callable[[], object], seconds: float) -> float:
    """Calls per second of `function`, run in batches for about `seconds`."""
    batch = 200
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            function()
        calls += batch
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def measure_pipe_evals(seconds: float = 1.0) -> dict[str, float]:
    """Evaluations per second of the 5-row pipe: resolve (parse every time), compiled, plain Python."""
    compiled = compile_value(FIVE_ROW_PIPE)
    assert resolve(FIVE_ROW_PIPE, CONTEXT, env=ENV) == EXPECTED
    assert compiled.evaluate(CONTEXT, env=ENV) == EXPECTED
    one_shot = _rate(lambda: resolve(FIVE_ROW_PIPE, CONTEXT, env=ENV), seconds)
    fast = _rate(lambda: compiled.evaluate(CONTEXT, env=ENV), seconds)
    python = _rate(lambda: _python_equivalent(CONTEXT), seconds)
    return {
        "five_row_pipe_evals_per_s": round(one_shot),
        "five_row_pipe_compiled_evals_per_s": round(fast),
        "python_equivalent_evals_per_s": round(python),
        "compiled_vs_python_ratio": round(fast / python, 4),
    }


def main() -> None:
    """Print the benchmark's JSON line."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from compile import measure_compile  # the 50-activity compile figure joins the same JSON line

    compile_figures = {f"compile_{key}": value for key, value in measure_compile().items() if key != "bench"}
    print(json.dumps({"bench": "pipes", **measure_pipe_evals(), **compile_figures}))


if __name__ == "__main__":
    main()
