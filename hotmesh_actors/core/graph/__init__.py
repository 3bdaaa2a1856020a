"""YAML graphs: load (with `$ref`), validate, and compile into a frozen `AppVersion`.

`compile_app(path_or_yaml)` is the one call most code needs; the model classes describe what an
engine reads at run time.
"""

from __future__ import annotations

from hotmesh_actors.core.graph.compiler import compile_app, compile_document
from hotmesh_actors.core.graph.frozen import FrozenDict, FrozenList, freeze, thaw
from hotmesh_actors.core.graph.loader import LoadedSource, load_source
from hotmesh_actors.core.graph.model import Activity, AppVersion, DeployWarning, Graph, HookRule, Transition
from hotmesh_actors.core.graph.validate import Validated, validate_source

__all__ = [
    "Activity",
    "AppVersion",
    "DeployWarning",
    "FrozenDict",
    "FrozenList",
    "Graph",
    "HookRule",
    "LoadedSource",
    "Transition",
    "Validated",
    "compile_app",
    "compile_document",
    "freeze",
    "load_source",
    "thaw",
    "validate_source",
]
