"""The @pipe function catalog: `{@domain.fn}` names mapped to Python callables with JS semantics."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping

from hotmesh_actors.core.pipe.jsvalues import JSValue
from hotmesh_actors.errors import UnknownPipeFunctionError

PipeFunction = Callable[..., JSValue]

DOMAIN_NAMES = (
    "array", "bitwise", "conditional", "cron", "date", "json", "logical",
    "math", "number", "object", "string", "symbol", "unary",
)


def _load_domain(name: str) -> Mapping[str, PipeFunction]:
    # Imported by name: several domain modules are named like stdlib modules or builtins (json, math, object).
    functions: Mapping[str, PipeFunction] = importlib.import_module(
        f"hotmesh_actors.core.pipe.functions.{name}"
    ).FUNCTIONS
    return functions


DOMAINS: Mapping[str, Mapping[str, PipeFunction]] = {name: _load_domain(name) for name in DOMAIN_NAMES}

_FUNCTION_CELL = re.compile(r"^\{@([A-Za-z_][\w]*)\.([A-Za-z_$][\w$]*)\}$")


def parse_function_cell(text: object) -> tuple[str, str] | None:
    """Split a `{@domain.fn}` cell into (domain, fn); None when the value is not a function cell."""
    if not isinstance(text, str):
        return None
    found = _FUNCTION_CELL.match(text)
    return (found.group(1), found.group(2)) if found else None


def is_function_cell(text: object) -> bool:
    """True when the value has the `{@…}` shape (a function cell, known or not)."""
    return isinstance(text, str) and text.startswith("{@") and text.endswith("}")


def lookup(domain: str, name: str) -> PipeFunction:
    """Return the catalog function `{@domain.name}`.

    Raises UnknownPipeFunctionError naming the domain or function (validators call this at deploy).
    """
    functions = DOMAINS.get(domain)
    if functions is None:
        raise UnknownPipeFunctionError(
            f"Unknown domain name [@{domain}]; known domains: {', '.join(sorted(DOMAINS))}"
        )
    function = functions.get(name)
    if function is None:
        raise UnknownPipeFunctionError(f"Unknown domain function [@{domain}.{name}]")
    return function
