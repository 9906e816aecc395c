"""Stores built from the environment the declaration gives every function (names in one place)."""

from __future__ import annotations

import os

from segflow.declaration import DATA_BUCKET, EXECUTIONS_TABLE
from segflow.stores.clients import client
from segflow.stores.execution_records import ExecutionRecordStore
from segflow.stores.manifests import ManifestStore
from segflow.stores.outputs import NodeOutputStore


def execution_records() -> ExecutionRecordStore:
    return ExecutionRecordStore(os.environ[EXECUTIONS_TABLE.env_var], client("dynamodb"))


def manifests() -> ManifestStore:
    return ManifestStore(os.environ[DATA_BUCKET.env_var], client("s3"))


def node_outputs() -> NodeOutputStore:
    return NodeOutputStore(os.environ[DATA_BUCKET.env_var], client("s3"))
