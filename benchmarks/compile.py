"""How long does compiling a 50-activity graph take? Prints one JSON line.

The figure is `compile_ms` (validated document → frozen AppVersion, median of many runs); the
reference measured in the same run is `yaml_parse_ms`, PyYAML's C-less `safe_load` of the same YAML
text, and `ratio` = compile / parse. `pipeline_ms` is the whole `compile_app` (load with `$ref`
resolution and source locations, schema validation, compile). `measure_compile()` returns the dict so
it can be merged with other micro-benchmarks.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import yaml

from hotmesh_actors.core.graph import compile_app, compile_document


def generate_graph_yaml(activities: int = 50) -> str:
    """A realistic graph: a trigger, then chains of workers with maps, parallel fan-outs and conditions."""
    lines = [
        "app:",
        "  id: bench",
        "  version: '1'",
        "  graphs:",
        "    - subscribes: bench.start",
        "      publishes: bench.done",
        "      expire: 60",
        "      activities:",
        "        t1:",
        "          type: trigger",
        "          job: {maps: {seed: '{$self.output.data.seed}'}}",
    ]
    transitions: list[str] = []
    previous = "t1"
    for index in range(1, activities):
        name = f"a{index}"
        lines += [
            f"        {name}:",
            "          type: worker",
            f"          topic: bench.work.{index % 5}",
            "          input:",
            "            maps:",
            f"              value: '{{{previous}.output.data.value}}'",
            "              label:",
            "                '@pipe':",
            f"                  - ['{{t1.output.data.seed}}', '-{index}']",
            "                  - ['{@string.concat}']",
            "          job:",
            f"            maps: {{v{index}: '{{$self.output.data.value}}'}}",
        ]
        condition = (
            "\n            conditions:\n              match:\n                - expected: true\n"
            f"                  actual: {{'@pipe': [['{{{previous}.output.data.value}}', 0], ['{{@number.gte}}']]}}"
            if index % 3 == 0
            else ""
        )
        transitions.append(f"        {previous}:\n          - to: {name}{condition}")
        # every fourth activity hangs off the trigger too, giving parallel branches
        previous = "t1" if index % 4 == 0 else name
    merged: dict[str, list[str]] = {}
    for block in transitions:
        head, _, edge = block.partition("\n")
        merged.setdefault(head, []).append(edge)
    lines.append("      transitions:")
    for head, edges in merged.items():
        lines.append(head)
        lines.extend(edges)
    return "\n".join(lines) + "\n"


def _median_ms(action: Callable[[], Any], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(samples)


def measure_compile(activities: int = 50, runs: int = 200) -> dict[str, Any]:
    """Time compile_document (and the full compile_app pipeline) on a generated graph."""
    text = generate_graph_yaml(activities)
    document = yaml.safe_load(text)
    app = compile_document(document)
    assert len(app.activities) == activities
    compile_ms = _median_ms(lambda: compile_document(document), runs)
    parse_ms = _median_ms(lambda: yaml.safe_load(text), max(runs // 4, 10))
    pipeline_ms = _median_ms(lambda: compile_app(text), max(runs // 4, 10))
    return {
        "benchmark": "compile",
        "activities": activities,
        "compile_ms": round(compile_ms, 3),
        "compiles_per_s": round(1000.0 / compile_ms, 1),
        "pipeline_ms": round(pipeline_ms, 3),
        "yaml_parse_ms": round(parse_ms, 3),
        "ratio": round(compile_ms / parse_ms, 3),
    }


if __name__ == "__main__":
    print(json.dumps(measure_compile()))
