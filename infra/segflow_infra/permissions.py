"""Declared access -> IAM, in one place so functions and state machines get the same meaning."""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from segflow.declaration import Access, BucketGrant, TableGrant

from segflow_infra.cdk_util import acknowledge, arn_token

# Object-level actions only: nothing may list, delete or change ACLs. AbortMultipartUpload lets a writer
# clean up its own large upload; CreateMultipartUpload/UploadPart are covered by s3:PutObject.
S3_ACTIONS: dict[Access, tuple[str, ...]] = {
    "read": ("s3:GetObject",),
    "write": ("s3:PutObject", "s3:AbortMultipartUpload"),
    "read_write": ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"),
}

_TABLE_GRANTS: dict[Access, Callable[[dynamodb.Table, iam.IGrantable], iam.Grant]] = {
    "read": lambda table, grantee: table.grant_read_data(grantee),
    "write": lambda table, grantee: table.grant_write_data(grantee),
    "read_write": lambda table, grantee: table.grant_read_write_data(grantee),
}


def grant_table(table: dynamodb.Table, grant: TableGrant, grantee: iam.IGrantable) -> None:
    _TABLE_GRANTS[grant.access](table, grantee)


def s3_prefix_statement(bucket: s3.IBucket, grant: BucketGrant) -> iam.PolicyStatement:
    """The declared actions on ``<bucket>/<prefix>*`` for each declared prefix, nothing else."""
    if not grant.prefixes:
        raise ValueError(f"grant on {grant.bucket} names no prefix; whole-bucket access is not allowed")
    return iam.PolicyStatement(
        actions=list(S3_ACTIONS[grant.access]),
        resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in grant.prefixes],
    )


def acknowledge_prefix_wildcards(role: iam.Role, grants: tuple[BucketGrant, ...], who: str) -> None:
    """cdk-nag flags ``<prefix>*``; the wildcard is the least privilege possible for generated keys."""
    for bucket, prefix in sorted({(grant.bucket, prefix) for grant in grants for prefix in grant.prefixes}):
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{arn_token(bucket)}/{prefix}*]",
            f"{who} may touch only objects under the declared '{prefix}' prefix of {bucket}; keys carry "
            "tenant and execution ids generated at run time, so no narrower ARN exists.",
        )
