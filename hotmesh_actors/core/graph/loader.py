"""Load a YAML graph manifest, resolve every `$ref`, and remember where each key came from.

This module is the one place in ``core/graph`` that performs I/O: it reads the manifest file and
the files its `$ref`s name. Everything downstream (validation, compilation) works on the plain,
fully dereferenced document it returns, and asks :meth:`LoadedSource.locate` for the file, line and
column of any key path so that errors point at the text the user wrote.

YAML is read with the JSON-compatible core schema that HotMesh's JavaScript loader uses: only
``true``/``false`` are booleans (``yes``/``no``/``on``/``off`` stay strings), ``2024-01-01`` stays a
string, integers are decimal (``0o``/``0x`` prefixes allowed) and duplicate keys are an error
(a duplicated activity id would otherwise silently replace the first one).

`$ref` follows JSON Reference: ``{$ref: ./other.yaml}`` (the whole file),
``{$ref: ./other.yaml#/json/pointer}`` and ``{$ref: '#/pointer'}`` (same file), resolved relative to
the file that holds the `$ref`. Keys written beside a `$ref` are merged over the referenced mapping.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final, TypeAlias
from urllib.parse import unquote

import attrs
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hotmesh_actors.errors import GraphValidationError

__all__ = ["INLINE_ORIGIN", "KeyPath", "LoadedSource", "Location", "format_path", "load_source"]

INLINE_ORIGIN: Final = "<inline>"
"""The origin (and file name in locations) of a manifest given as YAML text."""

KeyPath: TypeAlias = tuple[str | int, ...]
"""A path into the document: mapping keys (str) and list indexes (int)."""

Location: TypeAlias = tuple[str, int, int]
"""(file, 1-based line, 1-based column)."""

_MAX_NODES: Final = 500_000  # guards against alias/`$ref` expansion bombs
_MAX_DEPTH: Final = 150  # deeper than any real graph; keeps recursion well inside Python's limit

_TAG = "tag:yaml.org,2002:"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT_DEC = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
_SIMPLE_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


class _ComposeOnlyLoader(yaml.SafeLoader):
    """A SafeLoader that resolves no implicit tags: plain scalars are typed by :func:`_plain_scalar`."""

    yaml_implicit_resolvers: dict[Any, Any] = {}


def format_path(path: KeyPath) -> str:
    """Render a key path for messages: ``graphs[0].activities.reserve.type``.

    The leading ``app`` key is left out (every graph key lives under it); keys that are not simple
    identifiers (hook topics such as ``order.approved``) are bracketed and quoted.
    """
    parts = list(path[1:]) if len(path) > 1 and path[0] == "app" else list(path)
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _SIMPLE_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += "[" + repr(part) + "]"
    return text


@attrs.frozen(kw_only=True)
class LoadedSource:
    """A parsed, `$ref`-free manifest plus the source location of every key in it.

    ``document`` is plain JSON-like data (dict, list, str, int, float, bool, None); ``origin`` is the
    manifest's file path or ``<inline>``; ``files`` lists every file read, the origin first.
    """

    document: Any
    origin: str
    files: tuple[str, ...] = ()
    _keys: Mapping[KeyPath, Location] = attrs.field(factory=dict, repr=False, alias="keys")
    _values: Mapping[KeyPath, Location] = attrs.field(factory=dict, repr=False, alias="values")

    def locate(self, path: KeyPath) -> Location:
        """Return (file, line, column) of the key at `path`, or of its nearest located ancestor.

        For a mapping entry this is where the key is written; for a list item, where the item
        starts. A value that came through `$ref` is located in the file it was read from.
        """
        return self._nearest(self._keys, tuple(path))

    def locate_value(self, path: KeyPath) -> Location:
        """Return (file, line, column) where the value at `path` starts (else its nearest ancestor)."""
        return self._nearest(self._values, tuple(path))

    def _nearest(self, table: Mapping[KeyPath, Location], path: KeyPath) -> Location:
        for end in range(len(path), -1, -1):
            found = table.get(path[:end]) or self._keys.get(path[:end])
            if found is not None:
                return found
        return (self.origin, 1, 1)

    def error(self, message: str, path: KeyPath) -> GraphValidationError:
        """Build a GraphValidationError for `path`, located at its key."""
        file, line, column = self.locate(path)
        return GraphValidationError(message, file=file, line=line, column=column, path=format_path(path))


def load_source(path_or_yaml: str | os.PathLike[str]) -> LoadedSource:
    """Read a manifest (inline YAML text or a file path) and dereference every `$ref` in it.

    Text whose first non-blank characters are ``app:`` is inline YAML (its relative `$ref`s are
    resolved from the current directory); anything else is a file path.

    Raises GraphValidationError for unreadable files, YAML syntax errors, duplicate keys,
    unsupported tags, `$ref` cycles, missing `$ref` files and pointers that lead nowhere; each
    names the file, line and column of the fault.

    Example::

        source = load_source("graphs/order.yaml")
        source.document["app"]["id"]
        source.locate(("app", "graphs", 0, "activities"))  # ('graphs/order.yaml', 7, 5)
    """
    reader = _Reader()
    if isinstance(path_or_yaml, str) and path_or_yaml.strip().startswith("app:"):
        origin = INLINE_ORIGIN
        reader.add_text(origin, path_or_yaml, base_dir="")  # relative `$ref`s: from the working directory
    else:
        origin = os.path.normpath(os.fspath(path_or_yaml))
        reader.read_file(origin, referrer=None)
    document = reader.load(origin)
    return LoadedSource(
        document=document,
        origin=origin,
        files=tuple(reader.files),
        keys=reader.keys,
        values=reader.values,
    )


@attrs.frozen
class _ParsedFile:
    root: Node | None
    base_dir: str


_RefTarget: TypeAlias = tuple[str, str]  # (file, JSON pointer)


class _Reader:
    """Parses files on demand and converts node trees to plain data, recording locations."""

    def __init__(self) -> None:
        self.files: dict[str, _ParsedFile] = {}
        self.keys: dict[KeyPath, Location] = {}
        self.values: dict[KeyPath, Location] = {}
        self._converted = 0
        self._aliases_open: set[int] = set()

    # -- reading -----------------------------------------------------------------------------

    def read_file(self, file: str, referrer: Location | None, ref_path: KeyPath = ()) -> _ParsedFile:
        """Parse `file` once; errors point at the referring `$ref` (or at the file itself)."""
        cached = self.files.get(file)
        if cached is not None:
            return cached
        where = referrer or (file, None, None)
        context = "$ref target " if referrer is not None else ""
        try:
            with open(file, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            raise _error(f"{context}file not found: {file}", where, ref_path) from None
        except IsADirectoryError:
            raise _error(f"{context}{file} is a directory, not a YAML file", where, ref_path) from None
        except UnicodeDecodeError as exc:
            raise _error(f"{context}{file} is not UTF-8 text ({exc.reason})", where, ref_path) from None
        except OSError as exc:
            raise _error(f"cannot read {context}{file}: {exc.strerror or exc}", where, ref_path) from None
        return self.add_text(file, text, base_dir=os.path.dirname(file))

    def add_text(self, file: str, text: str, *, base_dir: str) -> _ParsedFile:
        parsed = _ParsedFile(root=_compose(file, text), base_dir=base_dir)
        self.files[file] = parsed
        return parsed

    # -- conversion --------------------------------------------------------------------------

    def load(self, origin: str) -> Any:
        root = self.files[origin].root
        self.keys[()] = (origin, 1, 1)
        self.values[()] = _mark(origin, root) if root is not None else (origin, 1, 1)
        if root is None:
            return None
        return self._convert(root, origin, (), [(origin, "")])

    def _convert(self, node: Node, file: str, path: KeyPath, chain: list[_RefTarget]) -> Any:
        self._converted += 1
        if self._converted > _MAX_NODES:
            raise _error(
                f"the manifest expands to more than {_MAX_NODES} values (alias or $ref explosion?)",
                _mark(file, node),
                path,
            )
        if len(path) > _MAX_DEPTH:
            raise _error(f"values nested deeper than {_MAX_DEPTH} levels", _mark(file, node), path)
        self.values.setdefault(path, _mark(file, node))
        if isinstance(node, ScalarNode):
            return _scalar(file, node, path)
        if id(node) in self._aliases_open:
            raise _error("a YAML alias refers to a node that contains it", _mark(file, node), path)
        self._aliases_open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self._sequence(node, file, path, chain)
            if isinstance(node, MappingNode):
                return self._mapping(node, file, path, chain)
        finally:
            self._aliases_open.discard(id(node))
        raise _error(f"unsupported YAML node {type(node).__name__}", _mark(file, node), path)

    def _sequence(self, node: SequenceNode, file: str, path: KeyPath, chain: list[_RefTarget]) -> list[Any]:
        if node.tag != _TAG + "seq":
            raise _error(f"unsupported YAML tag {node.tag} (use plain lists)", _mark(file, node), path)
        items: list[Any] = []
        for index, item in enumerate(node.value):
            item_path = (*path, index)
            self.keys.setdefault(item_path, _mark(file, item))
            items.append(self._convert(item, file, item_path, chain))
        return items

    def _mapping(self, node: MappingNode, file: str, path: KeyPath, chain: list[_RefTarget]) -> Any:
        if node.tag != _TAG + "map":
            raise _error(f"unsupported YAML tag {node.tag} (use plain mappings)", _mark(file, node), path)
        pairs = list(self._pairs(node, file, path))
        ref_pairs = [(key, key_node, value) for key, key_node, value in pairs if key == "$ref"]
        if ref_pairs:
            return self._dereference(ref_pairs[0], pairs, file, path, chain)
        result: dict[str, Any] = {}
        for key, key_node, value_node in pairs:
            key_path = (*path, key)
            self.keys[key_path] = _mark(file, key_node)
            result[key] = self._convert(value_node, file, key_path, chain)
        return result

    def _pairs(self, node: MappingNode, file: str, path: KeyPath) -> Iterator[tuple[str, Node, Node]]:
        """Yield (key, key node, value node), applying `<<` merges and rejecting duplicate keys."""
        seen: dict[str, Node] = {}
        merged: list[tuple[str, Node, Node]] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.style is None and key_node.value == "<<":
                merged.extend(self._merge_sources(value_node, file, path))
                continue
            key = _key_text(file, key_node, path)
            if key in seen:
                first = _mark(file, seen[key])
                raise _error(
                    f"duplicate key {key!r} (first written at line {first[1]}); "
                    "YAML would silently keep only the last one",
                    _mark(file, key_node),
                    (*path, key),
                )
            seen[key] = key_node
            yield key, key_node, value_node
        for key, key_node, value_node in merged:
            if key not in seen:
                seen[key] = key_node
                yield key, key_node, value_node

    def _merge_sources(self, value: Node, file: str, path: KeyPath) -> list[tuple[str, Node, Node]]:
        sources = value.value if isinstance(value, SequenceNode) else [value]
        found: list[tuple[str, Node, Node]] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                raise _error("a '<<' merge key needs a mapping (or a list of them)", _mark(file, source), path)
            found.extend(self._pairs(source, file, path))
        return found

    # -- $ref --------------------------------------------------------------------------------

    def _dereference(
        self,
        ref_pair: tuple[str, Node, Node],
        pairs: list[tuple[str, Node, Node]],
        file: str,
        path: KeyPath,
        chain: list[_RefTarget],
    ) -> Any:
        _, ref_key, ref_value = ref_pair
        ref_path = (*path, "$ref")
        where = _mark(file, ref_key)
        if not isinstance(ref_value, ScalarNode) or not isinstance(_scalar(file, ref_value, ref_path), str):
            raise _error("$ref must be a string such as ./other.yaml#/pointer", where, ref_path)
        target = self._target(str(ref_value.value), file, where, ref_path)
        if target in chain:
            cycle = [*chain[chain.index(target) :], target]
            raise _error("$ref cycle: " + " -> ".join(_show(step) for step in cycle), where, ref_path)
        target_file, target_node = self._follow(target, where, ref_path, [*chain, target])
        if target_node is None:
            value: Any = None
        else:
            value = self._convert(target_node, target_file, path, [*chain, target])
        siblings = [pair for pair in pairs if pair[0] != "$ref"]
        if not siblings:
            return value
        if not isinstance(value, dict):
            raise _error("keys beside $ref need the reference to be a mapping to merge into", where, ref_path)
        merged = dict(value)
        for key, key_node, value_node in siblings:
            key_path = (*path, key)
            self.keys[key_path] = _mark(file, key_node)
            merged[key] = self._convert(value_node, file, key_path, chain)
        return merged

    def _target(self, ref: str, file: str, where: Location, ref_path: KeyPath) -> _RefTarget:
        file_part, _, fragment = ref.partition("#")
        if "://" in file_part:
            raise _error(f"$ref {ref!r}: only local files can be referenced", where, ref_path)
        pointer = unquote(fragment)
        if pointer and not pointer.startswith("/"):
            raise _error(f"$ref {ref!r}: the part after '#' must be a JSON pointer like #/a/b", where, ref_path)
        if not file_part:
            return (file, pointer)
        base_dir = self.files[file].base_dir
        return (os.path.normpath(os.path.join(base_dir, file_part)), pointer)

    def _follow(
        self, target: _RefTarget, where: Location, ref_path: KeyPath, chain: list[_RefTarget]
    ) -> tuple[str, Node | None]:
        """Find the node a (file, pointer) names, following `$ref`s met on the way down."""
        file, pointer = target
        node = self.read_file(file, referrer=where, ref_path=ref_path).root
        if not pointer:
            return file, node
        walked = ""
        for raw in pointer[1:].split("/"):
            token = raw.replace("~1", "/").replace("~0", "~")
            while isinstance(node, MappingNode) and (inner := _ref_of(node)) is not None:
                hop = self._target(inner, file, _mark(file, node), ref_path)
                if hop in chain:
                    cycle = [*chain[chain.index(hop) :], hop]
                    raise _error("$ref cycle: " + " -> ".join(_show(s) for s in cycle), where, ref_path)
                chain = [*chain, hop]
                file, node = self._follow(hop, where, ref_path, chain)
            node = _child(node, token)
            walked += "/" + raw
            if node is None:
                raise _error(f"$ref pointer #{pointer} leads nowhere in {file}: nothing at #{walked}", where, ref_path)
        return file, node


def _ref_of(node: MappingNode) -> str | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == "$ref" and isinstance(value_node, ScalarNode):
            return str(value_node.value)
    return None


def _child(node: Node | None, token: str) -> Node | None:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == token:
                found: Node = value_node
                return found
        return None
    if isinstance(node, SequenceNode) and re.fullmatch(r"0|[1-9][0-9]*", token):
        index = int(token)
        return node.value[index] if index < len(node.value) else None
    return None


def _show(target: _RefTarget) -> str:
    file, pointer = target
    return f"{file}#{pointer}" if pointer else file


def _compose(file: str, text: str) -> Node | None:
    """Parse YAML text into a node tree, turning every YAML error into a located GraphValidationError."""
    try:
        loader = _ComposeOnlyLoader(text)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or "invalid YAML"
        if exc.context:
            context_mark = exc.context_mark
            started = (
                f" started at line {context_mark.line + 1}, column {context_mark.column + 1}"
                if context_mark is not None and context_mark is not mark
                else ""
            )
            problem = f"{exc.context}{started}: {problem}"
        raise GraphValidationError(f"YAML syntax error: {problem}", file=file, line=line, column=column) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        raise GraphValidationError(
            f"YAML text cannot contain the character U+{code:04X}", file=file, line=line, column=column
        ) from None
    except yaml.YAMLError as exc:
        raise GraphValidationError(f"YAML error: {exc}", file=file, line=1, column=1) from None
    except RecursionError:
        raise GraphValidationError("YAML nested too deeply to read", file=file, line=1, column=1) from None


def _mark(file: str, node: Node) -> Location:
    return (file, node.start_mark.line + 1, node.start_mark.column + 1)


def _error(message: str, where: Location | tuple[str, None, None], path: KeyPath = ()) -> GraphValidationError:
    file, line, column = where
    return GraphValidationError(message, file=file, line=line, column=column, path=format_path(path))


def _key_text(file: str, node: Node, path: KeyPath) -> str:
    """Mapping keys become strings, as JSON object keys (``200:`` is the key ``"200"``)."""
    if not isinstance(node, ScalarNode):
        raise _error("mapping keys must be plain strings or numbers", _mark(file, node), path)
    value = _scalar(file, node, path)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _scalar(file: str, node: ScalarNode, path: KeyPath) -> str | int | float | bool | None:
    text = str(node.value)
    tag = str(node.tag)
    if tag == _TAG + "str":
        return _plain_scalar(text) if node.style is None else text
    try:
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return _BOOL[text]
        if tag == _TAG + "int":
            return _plain_int(text)
        if tag == _TAG + "float":
            return float(text)
    except (KeyError, ValueError):
        raise _error(f"{text!r} is not a valid {tag.rsplit(':', 1)[-1]}", _mark(file, node), path) from None
    raise _error(f"unsupported YAML tag {tag}", _mark(file, node), path)


def _plain_int(text: str) -> int:
    if _INT_OCT.match(text):
        return int(text[2:], 8)
    if _INT_HEX.match(text):
        return int(text[2:], 16)
    return int(text, 10)


def _plain_scalar(text: str) -> str | int | float | bool | None:
    """Type an unquoted scalar with the YAML 1.2 core schema (what HotMesh's js-yaml does)."""
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT_DEC.match(text) or _INT_OCT.match(text) or _INT_HEX.match(text):
        return _plain_int(text)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text
