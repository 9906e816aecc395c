"""Errors of the version store. ``code`` is what the API and the rollback node report."""

from __future__ import annotations


class VersioningError(Exception):
    code = "VersioningError"


class WorkflowNotFound(VersioningError):
    code = "WorkflowNotFound"

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} not found")
        self.workflow_id = workflow_id


class VersionNotFound(VersioningError):
    code = "VersionNotFound"

    def __init__(self, workflow_id: str, version: int) -> None:
        super().__init__(f"version {version} of workflow {workflow_id!r} not found")
        self.workflow_id = workflow_id
        self.version = version


class NoActiveVersion(VersioningError):
    """Every version was published without activating one; an execution must name its version."""

    code = "NoActiveVersion"

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} has no active version; name the version to run")
        self.workflow_id = workflow_id


class ActiveVersionConflict(VersioningError):
    """The caller expected another active version: someone changed it first. Nothing was changed."""

    code = "ActiveVersionConflict"

    def __init__(self, workflow_id: str, expected: int | None, actual: int | None) -> None:
        super().__init__(
            f"workflow {workflow_id!r}: expected active version {expected}, but the active version is "
            f"{actual}; nothing was changed"
        )
        self.expected = expected
        self.actual = actual


class NoPreviousVersion(VersioningError):
    code = "NoPreviousVersion"

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} has no previously active version to roll back to")


class VersionAlreadyActive(VersioningError):
    code = "VersionAlreadyActive"

    def __init__(self, workflow_id: str, version: int) -> None:
        super().__init__(f"version {version} of workflow {workflow_id!r} is already active")
        self.workflow_id = workflow_id
        self.version = version


class WorkflowIdMismatch(VersioningError):
    code = "WorkflowIdMismatch"


class TooMuchContention(VersioningError):
    """Concurrent writers kept winning; the caller may try again."""

    code = "TooMuchContention"
