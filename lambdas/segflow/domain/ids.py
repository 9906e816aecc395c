"""Identifiers: an execution id out of what callers pass (the id, or a Step Functions execution ARN)."""

from __future__ import annotations


def execution_id_of(reference: str) -> str:
    """An execution id, from itself or from its ARN (``arn:aws:states:…:execution:<machine>:<id>``)."""
    return reference.rsplit(":", 1)[-1] if reference.startswith("arn:") else reference
