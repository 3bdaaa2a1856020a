"""Files of the `hotmesh demo` command, shipped inside the package and read with importlib.resources.

`order.yaml` is the README's order flow; the repository's `graphs/order.yaml` is a byte-identical copy
(tests/packaging checks it) kept where the docs, examples and tests refer to it.
"""
