"""hotmesh_actors: durable workflows for Python with Postgres as the only infrastructure.

The one import users need: everything public is re-exported here.
"""

from __future__ import annotations

from hotmesh_actors import durable
from hotmesh_actors._public_resolve import resolve
from hotmesh_actors.core.durations import RetryPolicy, parse_duration
from hotmesh_actors.core.graph import AppVersion, DeployWarning, compile_app
from hotmesh_actors.core.messages import MessageMetadata, MessageStatus, MessageType, StreamMessage
from hotmesh_actors.mesh.hotmesh import HotMesh, MeshConfig
from hotmesh_actors.mesh.worker import StreamResponse, Worker
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.driver import Statement

__all__ = [
    "HotMesh",
    "MeshConfig",
    "StreamResponse",
    "Worker",
    "AppVersion",
    "DeployWarning",
    "compile_app",
    "MessageMetadata",
    "MessageStatus",
    "MessageType",
    "RetryPolicy",
    "Settings",
    "Statement",
    "StreamMessage",
    "parse_duration",
    "resolve",
    "durable",
]
