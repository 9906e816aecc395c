"""Errors of the version store. ``code`` is what the API and the rollback node report; ``kind`` how callers
treat it (:class:`~segflow.domain.errors.SegflowError`)."""

from __future__ import annotations

from segflow.domain.errors import ErrorKind, SegflowError


class VersioningError(SegflowError):
    code = "VersioningError"
    kind: ErrorKind = "invalid"


class WorkflowNotFound(VersioningError):
    code = "WorkflowNotFound"
    kind = "not_found"

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} not found")
        self.workflow_id = workflow_id


class VersionNotFound(VersioningError):
    code = "VersionNotFound"
    kind = "not_found"

    def __init__(self, workflow_id: str, version: int) -> None:
        super().__init__(f"version {version} of workflow {workflow_id!r} not found")
        self.workflow_id = workflow_id
        self.version = version


class NoActiveVersion(VersioningError):
    """Every version was published without activating one; an execution must name its version."""

    code = "NoActiveVersion"
    kind = "conflict"

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} has no active version; name the version to run")
        self.workflow_id = workflow_id


class ActiveVersionConflict(VersioningError):
    """The caller expected another active version: someone changed it first. Nothing was changed."""

    code = "ActiveVersionConflict"
    kind = "conflict"

    def __init__(self, workflow_id: str, expected: int | None, actual: int | None) -> None:
        super().__init__(
            f"workflow {workflow_id!r}: expected active version {expected}, but the active version is "
            f"{actual}; nothing was changed"
        )
        self.expected = expected
        self.actual = actual


class NoPreviousVersion(VersioningError):
    code = "NoPreviousVersion"
    kind = "conflict"

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} has no previously active version to roll back to")


class VersionAlreadyActive(VersioningError):
    code = "VersionAlreadyActive"
    kind = "conflict"

    def __init__(self, workflow_id: str, version: int) -> None:
        super().__init__(f"version {version} of workflow {workflow_id!r} is already active")
        self.workflow_id = workflow_id
        self.version = version


class WorkflowIdMismatch(VersioningError):
    code = "WorkflowIdMismatch"


class TooMuchContention(VersioningError):
    """Concurrent writers kept winning; the caller may try again."""

    code = "TooMuchContention"
    kind = "unavailable"


class NoDiffTarget(VersioningError):
    """A diff without ``to`` compares with the active version, and there is none: the request must name it."""

    code = "NoActiveVersion"
    kind = "invalid"

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} has no active version; give 'to'")
        self.workflow_id = workflow_id
