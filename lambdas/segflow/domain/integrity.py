"""Content hashes of stored documents: the one canonical form and digest a definition is published with, and
the checks that refuse a stored document whose bytes no longer hash to what was stored with it.

A published version keeps the SHA-256 of its definition's canonical JSON; a submission (a workflow or an
input uploaded to start an execution) is content-addressed, its key ending in the SHA-256 of its body. Both
are checked when they are loaded for a run (:mod:`segflow.engine.initializer`, the manifest stores).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from segflow.domain.errors import DefinitionIntegrityError

_DIGEST = re.compile(r"[0-9a-f]{64}")


def canonical_json(document: Any) -> str:
    """The one text a document is hashed and stored as: keys sorted, no spaces, UTF-8 kept."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def document_sha256(document: Any) -> str:
    """The digest a definition is published with (and a submission's key carries)."""
    return sha256_hex(canonical_json(document).encode())


def verify_definition(definition: Any, expected_sha256: str, workflow_id: str, version: int) -> None:
    """A published version's definition as loaded must hash to the digest stored when it was published."""
    if document_sha256(definition) != expected_sha256:
        raise DefinitionIntegrityError(
            f"version {version} of workflow {workflow_id!r} was changed after it was published: its "
            f"definition no longer hashes to its stored sha256 {expected_sha256[:12]}…; nothing of it runs"
        )


def submission_digest(key: str) -> str:
    """The digest a submission's key ends in (``…/<sha256>.json``): its body's, once verified."""
    return key.rsplit("/", 1)[-1].removesuffix(".json")


def verify_submission(key: str, body: bytes) -> None:
    """A submission's body must hash to the digest its key ends in (``…/<sha256>.json``)."""
    digest = submission_digest(key)
    if not _DIGEST.fullmatch(digest):
        raise DefinitionIntegrityError(f"submission {key!r} is not content-addressed (…/<sha256>.json)")
    if sha256_hex(body) != digest:
        raise DefinitionIntegrityError(
            f"submission {key!r} was changed after it was uploaded: its body no longer hashes to the digest "
            "its key names; nothing of it runs"
        )
