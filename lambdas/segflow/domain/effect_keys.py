"""The idempotency key of a node's side effects: one format, the same on every attempt, resume and part.

``<tenant>:<origin execution id>:<node path>``, where

- the origin is the execution a chain of resumes started from (a resume ``<id>-r<hex>`` keeps its original's
  id; the parts of a continued execution share its id already);
- the node path is the node's id, or inside a ``for_each``/``loop`` sub-flow ``<owner>[<item index or
  iteration>].<inner node>`` (nested sub-flows nest the same way).

Every attempt of a node (a retry, a segment run again after a crash, a resume, a later part) sends the same
key, so a receiving service can tell a repeat from a new request. ``api_call``, ``data_query`` (HTTP) and
webhook notifications send it as the ``Idempotency-Key`` header; SNS notifications derive their
deduplication id from it; ``lambda_invoke`` passes it in the payload and client context; ``rollback`` uses
it as its request id; ``dynamodb_update`` marks its update applied under the origin and node path.
"""

from __future__ import annotations


def idempotency_key(tenant_id: str, origin_execution_id: str, node_path: str) -> str:
    return f"{tenant_id}:{origin_execution_id}:{node_path}"
