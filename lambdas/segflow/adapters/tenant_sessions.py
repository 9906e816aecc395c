"""Credentials of one tenant: the node role (``NODE_ROLE``), assumed with the tenant as its session tag.

Every AWS call a node makes on a user's behalf goes through a client of such a session, never through the
engine's own role: the node role's policy holds only the user's resources the stack names and the tenant's own
secrets and parameters (``${aws:PrincipalTag/tenant}``), and denies segflow's own tables and bucket. botocore
assumes the role when a client first calls, and again before the credentials expire (a warm function keeps
its clients for hours).
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
import botocore.session
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

from segflow.adapters.clients import CLIENT_CONFIG, unretried_config
from segflow.declaration import NODE_ROLE

_lock = threading.Lock()
SESSION_NAME_MAX_CHARS = 64  # STS RoleSessionName


def session_name(tenant_id: str) -> str:
    """Names the session in CloudTrail and in AccessDenied messages (the tag, not the name, is trusted)."""
    return f"tenant-{tenant_id}"[:SESSION_NAME_MAX_CHARS]


@cache
def _session(role_arn: str, tenant_id: str) -> boto3.session.Session:
    source = boto3.session.Session()
    credentials = source.get_credentials()
    if credentials is None:
        raise RuntimeError("no credentials to assume the node role with")
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=source._session.create_client,  # the botocore session's, as botocore's own providers
        source_credentials=credentials,
        role_arn=role_arn,
        extra_args={
            "RoleSessionName": session_name(tenant_id),
            "Tags": [{"Key": NODE_ROLE.session_tag, "Value": tenant_id}],
            "DurationSeconds": NODE_ROLE.session_seconds,
        },
    )
    tenant = botocore.session.get_session()
    tenant._credentials = DeferredRefreshableCredentials(  # botocore offers no public setter
        refresh_using=fetcher.fetch_credentials, method="assume-role"
    )
    return boto3.session.Session(botocore_session=tenant, region_name=source.region_name)


@cache
def _client(role_arn: str, tenant_id: str, service: str, read_timeout: float | None) -> Any:
    config = CLIENT_CONFIG if read_timeout is None else unretried_config(read_timeout)
    return _session(role_arn, tenant_id).client(service, config=config)


class TenantSessions:
    """Clients acting for a tenant, built once per tenant and service (and shared across threads)."""

    def __init__(self, role_arn: str) -> None:
        self.role_arn = role_arn

    def client(self, tenant_id: str, service: str) -> Any:
        with _lock:
            return _client(self.role_arn, tenant_id, service, None)

    def unretried_client(self, tenant_id: str, service: str, read_timeout: float) -> Any:
        """Calls sent once (see :func:`segflow.adapters.clients.unretried_client`)."""
        with _lock:
            return _client(self.role_arn, tenant_id, service, read_timeout)
