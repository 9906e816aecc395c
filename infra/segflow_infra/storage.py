"""S3 buckets and DynamoDB tables, one per entry of BUCKETS and TABLES."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct
from segflow.declaration import BUCKETS, TABLES, BucketSpec, TableSpec
from segflow.domain.limits import EXECUTION_DATA_RETENTION_DAYS

from segflow_infra.cdk_util import pin_logical_id

ACCESS_LOG_RETENTION_DAYS = 90
ACCESS_LOGS_BUCKET_ID = "AccessLogsBucket"
# Declared key attributes are strings: segflow builds every key from ids and prefixes.
KEY_TYPE = dynamodb.AttributeType.STRING
# TableSpec.stream -> the stream's view type.
STREAM_VIEW_TYPES = {"NEW_IMAGE": dynamodb.StreamViewType.NEW_IMAGE}


class Storage(Construct):
    """Every declared bucket and table; buckets log their S3 access to a separate log bucket."""

    def __init__(
        self, scope: Construct, construct_id: str, retention_days: int = EXECUTION_DATA_RETENTION_DAYS
    ) -> None:
        super().__init__(scope, construct_id)
        self.retention_days = retention_days
        self.access_logs = self._access_logs_bucket()
        self.buckets: dict[str, s3.Bucket] = {spec.logical_id: self._bucket(spec) for spec in BUCKETS}
        self.tables: dict[str, dynamodb.Table] = {spec.logical_id: self._table(spec) for spec in TABLES}

    def name_of(self, logical_id: str) -> str:
        """Name token of a declared bucket or table."""
        if logical_id in self.buckets:
            return self.buckets[logical_id].bucket_name
        return self.tables[logical_id].table_name

    def _access_logs_bucket(self) -> s3.Bucket:
        # cdk-nag exempts a server-access-log destination from logging its own access (AwsSolutions-S1).
        return s3.Bucket(
            self,
            ACCESS_LOGS_BUCKET_ID,
            # S3 server access logging can only deliver to SSE-S3 buckets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs", expiration=cdk.Duration.days(ACCESS_LOG_RETENTION_DAYS)
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def _bucket(self, spec: BucketSpec) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            spec.logical_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{spec.logical_id}/",
            lifecycle_rules=_lifecycle_rules(spec, self.retention_days),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        pin_logical_id(bucket, spec.logical_id)
        return bucket

    def _table(self, spec: TableSpec) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            spec.logical_id,
            partition_key=dynamodb.Attribute(name=spec.partition_key, type=KEY_TYPE),
            sort_key=dynamodb.Attribute(name=spec.sort_key, type=KEY_TYPE) if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            stream=STREAM_VIEW_TYPES[spec.stream] if spec.stream else None,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        for index in spec.global_indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.partition_key, type=KEY_TYPE),
                sort_key=dynamodb.Attribute(name=index.sort_key, type=KEY_TYPE) if index.sort_key else None,
                projection_type=dynamodb.ProjectionType.ALL,
            )
        pin_logical_id(table, spec.logical_id)
        return table


def _lifecycle_rules(spec: BucketSpec, retention_days: int) -> list[s3.LifecycleRule]:
    expiring = [
        s3.LifecycleRule(
            id=f"expire-{prefix.strip('/')}",
            prefix=prefix,
            expiration=cdk.Duration.days(retention_days),
        )
        for prefix in spec.expiring_prefixes
    ]
    return [
        *expiring,
        s3.LifecycleRule(
            id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=cdk.Duration.days(1)
        ),
    ]
