"""Conformance suite: one test per behaviour HotMesh's functional tests check, with our own YAML and workers."""
