"""Identifiers: what a tenant id is, and how an execution id and its Step Functions execution name relate.

Step Functions execution names are one namespace per state machine, shared by every tenant. segflow names an
execution ``<tenant>.<id>`` (a tenant id has no ``.``), so two tenants' executions never collide and a name
one tenant picks says nothing about another's. Users and records know the execution by ``<id>`` alone
(records are keyed by tenant and id); the ARN's name carries the tenant, which is never trusted for
authorization: every read is the caller's tenant's.
"""

from __future__ import annotations

import re
from typing import TypeGuard

from segflow.domain.errors import SegflowError
from segflow.domain.limits import EXECUTION_NAME_MAX_CHARS, TENANT_ID_MAX_CHARS

_TENANT_ID = re.compile(rf"[a-z0-9][a-z0-9-]{{0,{TENANT_ID_MAX_CHARS - 1}}}")
TENANT_ID_RULE = (
    f"1-{TENANT_ID_MAX_CHARS} lowercase letters, digits or hyphens, starting with a letter or digit"
)
# Between the tenant and the execution id in a Step Functions execution name; never in either.
NAME_SEPARATOR = "."


class InvalidExecutionName(SegflowError):
    """An execution name that cannot be a tenant's Step Functions execution name."""

    kind = "invalid"


def is_tenant_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a tenant id, matched whole (a trailing newline is not one)."""
    return isinstance(value, str) and _TENANT_ID.fullmatch(value) is not None


def execution_id_max_chars(tenant_id: str) -> int:
    """The longest execution id of this tenant (its Step Functions name is ``<tenant>.<id>``)."""
    return EXECUTION_NAME_MAX_CHARS - len(tenant_id) - len(NAME_SEPARATOR)


def check_execution_id(tenant_id: str, execution_id: str, field: str = "name") -> str:
    """``execution_id`` if it can name an execution of this tenant; InvalidExecutionName naming ``field``."""
    if not execution_id:
        raise InvalidExecutionName(f"{field}: an execution name cannot be empty")
    if NAME_SEPARATOR in execution_id:
        raise InvalidExecutionName(f"{field} {execution_id!r}: an execution name cannot contain '.'")
    room = execution_id_max_chars(tenant_id)
    if len(execution_id) > room:
        raise InvalidExecutionName(
            f"{field} {execution_id!r} has {len(execution_id)} characters: tenant {tenant_id!r} may use "
            f"{room} at most (a Step Functions name, {EXECUTION_NAME_MAX_CHARS} characters, holds the tenant)"
        )
    return execution_id


def qualified_execution_name(tenant_id: str, execution_id: str) -> str:
    """The Step Functions execution name of this tenant's execution ``execution_id``."""
    return f"{tenant_id}{NAME_SEPARATOR}{check_execution_id(tenant_id, execution_id)}"


def fitted_execution_id(tenant_id: str, stem: str, suffix: str) -> str:
    """``stem`` (its '.' replaced), cut so that ``stem + suffix`` is an execution id of this tenant: how
    segflow makes the names it gives (generated, resumed, continued)."""
    room = max(execution_id_max_chars(tenant_id) - len(suffix), 0)
    return stem.replace(NAME_SEPARATOR, "-")[:room] + suffix


def split_execution_name(name: str) -> tuple[str | None, str]:
    """(tenant, execution id) of a Step Functions execution name; (None, name) for a name segflow did not
    qualify (started before names carried the tenant)."""
    tenant, separator, execution_id = name.partition(NAME_SEPARATOR)
    if separator and is_tenant_id(tenant) and execution_id:
        return tenant, execution_id
    return None, name


def execution_id_in_name(tenant_id: str, name: str) -> str:
    """The execution id a Step Functions execution name gives this tenant's execution; InvalidExecutionName
    unless the name is ``<tenant>.<id>`` of this very tenant (a name and an input that disagree are not
    segflow's)."""
    named, execution_id = split_execution_name(name)
    if named != tenant_id:
        raise InvalidExecutionName(
            f"the Step Functions execution name {name!r} must be '{tenant_id}{NAME_SEPARATOR}<execution id>' "
            f"for tenant_id {tenant_id!r}"
        )
    return check_execution_id(tenant_id, execution_id, "the execution name")


def _name_of_arn(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def execution_id_of(reference: str) -> str:
    """An execution id, from itself or from its ARN (``arn:…:execution:<machine>:<tenant>.<id>``)."""
    if not reference.startswith("arn:"):
        return reference
    return split_execution_name(_name_of_arn(reference))[1]


def tenant_in_reference(reference: str) -> str | None:
    """The tenant an execution ARN's name carries (None for an id, or an unqualified name). Says which
    tenant's records to read, never whether the caller may read them."""
    if not reference.startswith("arn:"):
        return None
    return split_execution_name(_name_of_arn(reference))[0]
