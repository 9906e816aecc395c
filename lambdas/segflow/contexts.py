"""The deployment contexts that name your own resources (``cdk deploy -c data_tables=…``) and the egress
policy's lists (``-c egress_allow=…``), checked.

Read by the CDK app and by ``segflow local up -c …``, so that a name refused by one is refused by the other
and the local runtime grants your nodes exactly what the stack would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from segflow.declaration import (
    DATA_BUCKETS_CONTEXT,
    DATA_TABLES_CONTEXT,
    EGRESS_ALLOW_CONTEXT,
    EGRESS_DENY_CONTEXT,
    INVOKE_FUNCTIONS_CONTEXT,
    NOTIFICATION_TOPICS_CONTEXT,
    TENANT_DATA_BUCKETS_CONTEXT,
    TENANT_DATA_TABLES_CONTEXT,
    EgressLists,
    UserResources,
)
from segflow.domain.egress import parse_entries

TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]{3,255}")
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}(\.fifo)?")
FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
USER_RESOURCE_CONTEXTS = (
    DATA_TABLES_CONTEXT,
    DATA_BUCKETS_CONTEXT,
    NOTIFICATION_TOPICS_CONTEXT,
    INVOKE_FUNCTIONS_CONTEXT,
    TENANT_DATA_TABLES_CONTEXT,
    TENANT_DATA_BUCKETS_CONTEXT,
)

EGRESS_CONTEXTS = (EGRESS_ALLOW_CONTEXT, EGRESS_DENY_CONTEXT)

GetContext = Callable[[str], Any]


def names(get_context: GetContext, key: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    """``-c <key>=a,b`` (or a JSON list in cdk.json) -> the names, checked."""
    value = get_context(key) or ()
    listed = value.split(",") if isinstance(value, str) else list(value)
    checked = tuple(name.strip() for name in listed if name.strip())
    for name in checked:
        if not pattern.fullmatch(name):
            raise ValueError(f"{key}: {name!r} is not {what}")
    return checked


def user_resources(get_context: GetContext) -> UserResources:
    """Your tables (``data_tables``), buckets data_query reads (``data_buckets``), SNS topics notification
    nodes publish to (``notification_topics``) and Lambda functions lambda_invoke nodes call
    (``invoke_functions``), each comma-separated names (in the stack's account and region, not ARNs); tables
    and buckets shared by tenants, keyed by tenant (``tenant_data_tables``, ``tenant_data_buckets``)."""
    return UserResources(
        tables=names(get_context, DATA_TABLES_CONTEXT, TABLE_NAME, "a DynamoDB table name"),
        buckets=names(get_context, DATA_BUCKETS_CONTEXT, BUCKET_NAME, "an S3 bucket name"),
        topics=names(get_context, NOTIFICATION_TOPICS_CONTEXT, TOPIC_NAME, "an SNS topic name"),
        functions=names(
            get_context,
            INVOKE_FUNCTIONS_CONTEXT,
            FUNCTION_NAME,
            "a Lambda function name (letters, digits, '-' and '_', up to 64; a name, not an ARN)",
        ),
        tenant_tables=names(get_context, TENANT_DATA_TABLES_CONTEXT, TABLE_NAME, "a DynamoDB table name"),
        tenant_buckets=names(get_context, TENANT_DATA_BUCKETS_CONTEXT, BUCKET_NAME, "an S3 bucket name"),
    )


def as_contexts(resources: UserResources) -> list[str]:
    """``key=a,b`` arguments naming ``resources`` (for ``segflow local up -c``)."""
    pairs = {
        DATA_TABLES_CONTEXT: resources.tables,
        DATA_BUCKETS_CONTEXT: resources.buckets,
        NOTIFICATION_TOPICS_CONTEXT: resources.topics,
        INVOKE_FUNCTIONS_CONTEXT: resources.functions,
        TENANT_DATA_TABLES_CONTEXT: resources.tenant_tables,
        TENANT_DATA_BUCKETS_CONTEXT: resources.tenant_buckets,
    }
    return [f"{key}={','.join(values)}" for key, values in pairs.items() if values]


def egress_lists(get_context: GetContext) -> EgressLists:
    """``-c egress_allow=api.example.com,10.1.0.0/16 -c egress_deny=0.0.0.0/0``: the egress policy's lists
    (host names, ``*.domain``, addresses, CIDRs; see segflow.domain.egress), checked and normalized."""

    def entries(key: str) -> tuple[str, ...]:
        value = get_context(key)
        return tuple(str(entry) for entry in parse_entries(value, key))

    return EgressLists(allow=entries(EGRESS_ALLOW_CONTEXT), deny=entries(EGRESS_DENY_CONTEXT))
