"""The @object domain of the pipe function catalog (JavaScript semantics).

Pipe objects are plain dicts (JSON objects) and lists (arrays); keys come back in JavaScript's
order (integer-like keys ascending, then insertion order). Like their JS counterparts, `set`,
`assign` and `defineProperty` change the object they are given and return it.

Property attributes are not modelled, so the introspection functions answer for ordinary data:
- every dict key is writable, enumerable and configurable; `freeze`, `seal` and
  `preventExtensions` return their argument unchanged (nothing is locked), and `isFrozen`,
  `isSealed` are true and `isExtensible` false only for primitives (JS's answers for them);
- `defineProperty` writes `descriptor.value`; a *new* property that is not declared
  `enumerable: true` is not stored, mirroring that a non-enumerable JS property is invisible to
  `keys` and JSON (and so never reaches the job state); accessor descriptors are refused;
- `isPrototypeOf` is false for data values and `getOwnPropertySymbols` is always [].
"""

from __future__ import annotations

from collections.abc import Callable

from hotmesh_actors.core.pipe.functions._jsops import is_array_index, js_error, own_keys, to_units
from hotmesh_actors.core.pipe.jsvalues import (
    UNDEFINED,
    JSValue,
    is_nullish,
    to_string,
    truthy,
    typeof,
)


def _property_key(prop: JSValue) -> str:
    """ToPropertyKey for the values a pipe can hold."""
    return prop if isinstance(prop, str) else to_string(prop)


def _is_object(value: JSValue) -> bool:
    return typeof(value) == "object" and value is not None


def _string_index(text: str, key: str) -> str | None:
    units = to_units(text)
    if is_array_index(key) and int(key) < len(units):
        return units[int(key)]
    return None


def get(obj: JSValue, prop: JSValue = UNDEFINED) -> JSValue:
    """Read a property (`obj?.[prop]`): undefined for null/undefined objects and missing keys.

    Example: [{'second': 'red'}, 'second'] → 'red'
    """
    if is_nullish(obj):
        return UNDEFINED
    key = _property_key(prop)
    if isinstance(obj, dict):
        return obj.get(key, UNDEFINED)
    if isinstance(obj, list | str):
        if key == "length":
            return len(to_units(obj)) if isinstance(obj, str) else len(obj)
        if isinstance(obj, str):
            unit = _string_index(obj, key)
            return UNDEFINED if unit is None else unit
        if is_array_index(key) and int(key) < len(obj):
            return obj[int(key)]
    return UNDEFINED


def set(obj: JSValue, prop: JSValue = UNDEFINED, value: JSValue = UNDEFINED) -> JSValue:  # noqa: A001
    """Assign `obj[prop] = value` and return obj; a falsy obj is replaced by a new {}.

    Example: [None, 'a', 1] → {'a': 1}
    """
    if not truthy(obj):
        obj = {}
    key = _property_key(prop)
    if isinstance(obj, dict):
        obj[key] = value
        return obj
    if isinstance(obj, list):
        if is_array_index(key):
            index = int(key)
            if index >= len(obj):
                obj.extend([UNDEFINED] * (index + 1 - len(obj)))
            obj[index] = value
            return obj
        raise js_error("TypeError", f"@object.set cannot add the named property '{key}' to an array")
    raise js_error("TypeError", f"Cannot create property '{key}' on {typeof(obj)} '{to_string(obj)}'")


def create(*args: JSValue) -> JSValue:
    """A new object from alternating key/value operands; a missing last value is undefined.

    Example: ['name', 'John', 'age', 30] → {'name': 'John', 'age': 30}
    """
    built: dict[str, JSValue] = {}
    for index in range(0, len(args), 2):
        built[_property_key(args[index])] = args[index + 1] if index + 1 < len(args) else UNDEFINED
    return built


def _enumerable_entries(obj: JSValue) -> list[tuple[str, JSValue]]:
    """Own enumerable string-keyed properties of any value (`Object.entries` after ToObject)."""
    if isinstance(obj, dict):
        return [(key, obj[key]) for key in own_keys(obj)]
    if isinstance(obj, list):
        return [(str(index), item) for index, item in enumerate(obj)]
    if isinstance(obj, str):
        units = to_units(obj)
        return [(str(index), unit) for index, unit in enumerate(units)]
    return []


def keys(obj: JSValue) -> JSValue:
    """Own enumerable keys in JS order (`Object.keys`); [] for falsy values.

    Example: [{'b': 1, '2': 0, 'a': 3}] → ['2', 'b', 'a']
    """
    if not truthy(obj):
        return []
    return [key for key, _ in _enumerable_entries(obj)]


def values(obj: JSValue) -> JSValue:
    """Own enumerable values in JS key order (`Object.values`); [] for falsy values.

    Example: [{'a': 1, 'b': 2}] → [1, 2]
    """
    if not truthy(obj):
        return []
    return [value for _, value in _enumerable_entries(obj)]


def entries(obj: JSValue) -> JSValue:
    """Own enumerable [key, value] pairs in JS key order (`Object.entries`); [] for falsy values.

    Example: [{'a': 1}] → [['a', 1]]
    """
    if not truthy(obj):
        return []
    return [[key, value] for key, value in _enumerable_entries(obj)]


def fromEntries(iterable: JSValue) -> JSValue:  # noqa: N802 - JS name
    """An object from a list of [key, value] entries; later keys win (`Object.fromEntries`).

    Example: [[['a', 1], ['b', 2]]] → {'a': 1, 'b': 2}
    """
    if isinstance(iterable, str):
        items: list[JSValue] = list(to_units(iterable))
    elif isinstance(iterable, list):
        items = iterable
    else:
        raise js_error("TypeError", f"{to_string(iterable)} is not iterable")
    built: dict[str, JSValue] = {}
    for entry in items:
        if not _is_object(entry):
            raise js_error("TypeError", f"Iterator value {to_string(entry)} is not an entry object")
        built[_property_key(get(entry, "0"))] = get(entry, "1")
    return built


def _assign_into(target: dict[str, JSValue] | list[JSValue], source: JSValue) -> None:
    for key, value in _enumerable_entries(source):
        if isinstance(target, dict):
            target[key] = value
        else:
            set(target, key, value)


def assign(target: JSValue = UNDEFINED, *sources: JSValue) -> JSValue:
    """Copy the own enumerable properties of each source into target (or {}), and return it.

    Example: [{'a': 1}, {'b': 2}, {'a': 3}] → {'a': 3, 'b': 2}
    """
    if not truthy(target):
        target = {}
    if not isinstance(target, dict | list):
        raise js_error("TypeError", f"@object.assign needs an object or array target, got {typeof(target)}")
    for source in sources:
        if not is_nullish(source):
            _assign_into(target, source)
    return target


def getOwnPropertyNames(obj: JSValue) -> JSValue:  # noqa: N802 - JS name
    """All own property names, including an array's or string's 'length'.

    Example: [['x', 'y']] → ['0', '1', 'length']
    """
    if not truthy(obj):
        return []
    names = [key for key, _ in _enumerable_entries(obj)]
    if isinstance(obj, list | str):
        names.append("length")
    return names


def getOwnPropertySymbols(obj: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Own symbol-keyed properties: always [] since pipe values have no symbol keys.

    Example: [{'a': 1}] → []
    """
    if is_nullish(obj):
        return []
    return []


def _has_own(obj: JSValue, key: str) -> bool:
    if isinstance(obj, dict):
        return key in obj
    if isinstance(obj, list):
        return key == "length" or (is_array_index(key) and int(key) < len(obj))
    if isinstance(obj, str):
        return key == "length" or _string_index(obj, key) is not None
    return False


def getOwnPropertyDescriptor(obj: JSValue, prop: JSValue = UNDEFINED) -> JSValue:  # noqa: N802
    """The descriptor {value, writable, enumerable, configurable} of an own property, else undefined.

    Example: [{'age': 30}, 'age'] → {'value': 30, 'writable': True, 'enumerable': True, 'configurable': True}
    """
    holder = obj if truthy(obj) else {}
    key = _property_key(prop)
    if not _has_own(holder, key):
        return UNDEFINED
    value = get(holder, key)
    if key == "length" and isinstance(holder, list | str):
        writable = isinstance(holder, list)
        return {"value": value, "writable": writable, "enumerable": False, "configurable": False}
    if isinstance(holder, str):
        return {"value": value, "writable": False, "enumerable": True, "configurable": False}
    return {"value": value, "writable": True, "enumerable": True, "configurable": True}


def _define(obj: dict[str, JSValue] | list[JSValue], key: str, descriptor: JSValue) -> None:
    if not _is_object(descriptor):
        raise js_error("TypeError", f"Property description must be an object: {to_string(descriptor)}")
    fields = dict(_enumerable_entries(descriptor))
    if "get" in fields or "set" in fields:
        raise js_error("TypeError", "@object.defineProperty does not support getters or setters")
    exists = _has_own(obj, key)
    if not exists and not truthy(fields.get("enumerable", False)):
        return  # a new non-enumerable property: invisible to keys/JSON, so it is not kept
    if "value" in fields or not exists:
        set(obj, key, fields.get("value", UNDEFINED))


def _object_target(method: str, obj: JSValue) -> dict[str, JSValue] | list[JSValue]:
    if isinstance(obj, dict | list):
        return obj
    raise js_error("TypeError", f"Object.{method} called on non-object")


def defineProperty(obj: JSValue, prop: JSValue = UNDEFINED, descriptor: JSValue = UNDEFINED) -> JSValue:  # noqa: N802
    """Define a property from a descriptor and return obj (data descriptors only; see module doc).

    Example: [{}, 'city', {'value': 'Oslo', 'enumerable': True}] → {'city': 'Oslo'}
    """
    target = _object_target("defineProperty", obj)
    _define(target, _property_key(prop), descriptor)
    return target


def defineProperties(obj: JSValue, props: JSValue = UNDEFINED) -> JSValue:  # noqa: N802 - JS name
    """Define each property of a {name: descriptor} map and return obj.

    Example: [{}, {'a': {'value': 1, 'enumerable': True}}] → {'a': 1}
    """
    target = _object_target("defineProperties", obj)
    if is_nullish(props):
        raise js_error("TypeError", "Cannot convert undefined or null to object")
    for key, descriptor in _enumerable_entries(props):
        _define(target, key, descriptor)
    return target


def freeze(obj: JSValue) -> JSValue:
    """Return obj unchanged (`Object.freeze`; immutability is not enforced on pipe values).

    Example: [{'a': 1}] → {'a': 1}
    """
    return obj


def isFrozen(obj: JSValue) -> JSValue:  # noqa: N802 - JS name
    """True for primitives, false for objects and arrays (`Object.isFrozen`; see module doc).

    Example: [5] → True
    """
    return not _is_object(obj)


def seal(obj: JSValue) -> JSValue:
    """Return obj unchanged (`Object.seal`; sealing is not enforced on pipe values).

    Example: [{'a': 1}] → {'a': 1}
    """
    return obj


def isSealed(obj: JSValue) -> JSValue:  # noqa: N802 - JS name
    """True for primitives, false for objects and arrays (`Object.isSealed`).

    Example: [{'a': 1}] → False
    """
    return not _is_object(obj)


def preventExtensions(obj: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Return obj unchanged (`Object.preventExtensions`; not enforced on pipe values).

    Example: [[1, 2]] → [1, 2]
    """
    return obj


def isExtensible(obj: JSValue) -> JSValue:  # noqa: N802 - JS name
    """True for objects and arrays, false for primitives (`Object.isExtensible`).

    Example: [{}] → True
    """
    return _is_object(obj)


def _this_object(method: str, obj: JSValue) -> None:
    if is_nullish(obj):
        raise js_error("TypeError", f"Object.prototype.{method} called on {to_string(obj)} (cannot convert to object)")


def hasOwnProperty(obj: JSValue, prop: JSValue = UNDEFINED) -> JSValue:  # noqa: N802 - JS name
    """True when obj has prop as its own property (`Object.prototype.hasOwnProperty.call`).

    Example: [{'age': 30}, 'age'] → True
    """
    _this_object("hasOwnProperty", obj)
    return _has_own(obj, _property_key(prop))


def isPrototypeOf(obj: JSValue, other: JSValue = UNDEFINED) -> JSValue:  # noqa: N802 - JS name
    """Whether obj is on other's prototype chain: always false for data values.

    Example: [{}, {}] → False
    """
    if not _is_object(other):
        return False
    _this_object("isPrototypeOf", obj)
    return False


def propertyIsEnumerable(obj: JSValue, prop: JSValue = UNDEFINED) -> JSValue:  # noqa: N802 - JS name
    """True when prop is an own enumerable property (array/string 'length' is not).

    Example: [['a'], 'length'] → False
    """
    _this_object("propertyIsEnumerable", obj)
    key = _property_key(prop)
    if key == "length" and isinstance(obj, list | str):
        return False
    return _has_own(obj, key)


FUNCTIONS: dict[str, Callable[..., JSValue]] = {
    "get": get,
    "set": set,
    "create": create,
    "keys": keys,
    "values": values,
    "entries": entries,
    "fromEntries": fromEntries,
    "assign": assign,
    "getOwnPropertyNames": getOwnPropertyNames,
    "getOwnPropertySymbols": getOwnPropertySymbols,
    "getOwnPropertyDescriptor": getOwnPropertyDescriptor,
    "defineProperty": defineProperty,
    "defineProperties": defineProperties,
    "freeze": freeze,
    "isFrozen": isFrozen,
    "seal": seal,
    "isSealed": isSealed,
    "preventExtensions": preventExtensions,
    "isExtensible": isExtensible,
    "hasOwnProperty": hasOwnProperty,
    "isPrototypeOf": isPrototypeOf,
    "propertyIsEnumerable": propertyIsEnumerable,
}
