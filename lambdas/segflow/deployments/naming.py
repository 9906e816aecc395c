"""SageMaker resource names: one convention per tenant, model and environment.

Names carry ``segflow-`` first (the stack's IAM grants are scoped to it), then the tenant, the model and the
environment, and end with a short hash of those parts, so two tenants (or a tenant and a model id that share
hyphens) never get the same name. SageMaker names stop at 63 characters; readable parts are cut to fit.
"""

from __future__ import annotations

import hashlib
import re

from segflow.domain.limits import SAGEMAKER_NAME_MAX_CHARS

NAME_PREFIX = "segflow-"
_HASH_CHARS = 6
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9-]+")


def _name(*parts: str) -> str:
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:_HASH_CHARS]
    readable = "-".join(_NOT_ALLOWED.sub("-", part).strip("-") for part in parts)
    readable = re.sub(r"-{2,}", "-", readable)
    room = SAGEMAKER_NAME_MAX_CHARS - len(NAME_PREFIX) - 1 - _HASH_CHARS
    return f"{NAME_PREFIX}{readable[:room].rstrip('-')}-{digest}"


def endpoint_name(tenant_id: str, model_id: str, environment: str) -> str:
    """The endpoint that serves ``model_id`` in ``environment`` for this tenant, across versions."""
    return _name(tenant_id, model_id, environment)


def endpoint_config_name(tenant_id: str, model_id: str, version: str, environment: str) -> str:
    """The endpoint config (and the SageMaker model) of one version in one environment."""
    return _name(tenant_id, model_id, f"v{version}", environment)


def deployment_id(tenant_id: str, execution_id: str, node_id: str) -> str:
    """Stable for one node of one execution: a retried segment finds its deployment again."""
    return "dep-" + hashlib.sha256(f"{tenant_id}\0{execution_id}\0{node_id}".encode()).hexdigest()[:20]
