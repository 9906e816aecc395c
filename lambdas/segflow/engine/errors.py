"""Errors the engine raises out of a handler. Their class names become the Step Functions error names."""

from __future__ import annotations


class NodeFailed(Exception):
    """A node failed for good (after its retries); the execution fails with this error."""


class UpstreamIncomplete(Exception):
    """A segment ran before a node it depends on finished: a stage was not really complete."""


class StageFailed(Exception):
    """A segment of the stage recorded a failure (also catches failures a Map did not propagate)."""


class StageIncomplete(Exception):
    """A segment of the stage left no record: it never ran or died without reporting."""


class NodeTypeUnavailable(Exception):
    """A node type validates but has no executor in this release."""
