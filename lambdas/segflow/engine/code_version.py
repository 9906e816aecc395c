"""The code version a stored plan is keyed by: a fingerprint of the source that validates and partitions.

Every module of the segflow package counts (validation, the partitioner, the node types and the limits all
shape a plan, and a hand-kept list would go stale as modules move), and so do the modules a deployment
registers node types from (``SEGFLOW_NODE_MODULES``, entry points). A deployment that changes any of them
plans each definition afresh, once; one that changes none reuses the plans already stored, which validation
passed when they were made: the same content checked by the same code.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path

import segflow
from segflow.nodes import registry

_PACKAGE = Path(segflow.__file__).resolve().parent


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def _package_digest() -> str:
    return _tree_digest(_PACKAGE)


@cache
def _module_digest(name: str) -> str:
    """A registering module's source (its package's, for a package), found without importing it."""
    try:
        spec = find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        return "unavailable"  # the registry refuses such a module before anything is planned
    origin = Path(spec.origin)
    if origin.name == "__init__.py":
        return _tree_digest(origin.parent)
    return hashlib.sha256(origin.read_bytes()).hexdigest()


@cache
def _entry_point_modules() -> tuple[str, ...]:
    return tuple(sorted({point.module for point in entry_points(group=registry.ENTRY_POINT_GROUP)}))


def code_version() -> str:
    """The fingerprint of the code that would plan a definition in this process now (the environment names
    the node modules, so it is read each time; the files once)."""
    modules = sorted({*registry.configured_modules(), *_entry_point_modules()})
    parts = [_package_digest(), *(f"{module}:{_module_digest(module)}" for module in modules)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
