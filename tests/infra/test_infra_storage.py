"""Buckets and tables: one per declaration entry, private, encrypted, expiring, recoverable."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.declaration import BUCKETS, TABLES, BucketSpec, TableSpec
from segflow.domain.limits import EXECUTION_DATA_RETENTION_DAYS

from tests.infra.infra_helpers import ref, render, synth_resources

pytestmark = pytest.mark.infra


def _bucket_policy(synth: Any, bucket_logical_id: str) -> list[dict[str, Any]]:
    for policy in synth.of_type("AWS::S3::BucketPolicy").values():
        if render(policy["Properties"]["Bucket"]) == ref(bucket_logical_id):
            return policy["Properties"]["PolicyDocument"]["Statement"]
    raise AssertionError(f"{bucket_logical_id} has no bucket policy")


@pytest.mark.parametrize("spec", BUCKETS, ids=lambda spec: spec.logical_id)
def test_bucket_is_encrypted_and_private(synth: Any, spec: BucketSpec) -> None:
    props = synth.resources[spec.logical_id]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


@pytest.mark.parametrize("spec", BUCKETS, ids=lambda spec: spec.logical_id)
def test_bucket_denies_requests_without_tls(synth: Any, spec: BucketSpec) -> None:
    denials = [
        statement for statement in _bucket_policy(synth, spec.logical_id) if statement["Effect"] == "Deny"
    ]
    assert {"Bool": {"aws:SecureTransport": "false"}} in [statement["Condition"] for statement in denials]
    assert all(statement["Action"] == "s3:*" for statement in denials)


@pytest.mark.parametrize("spec", BUCKETS, ids=lambda spec: spec.logical_id)
def test_bucket_expires_each_declared_prefix(synth: Any, spec: BucketSpec) -> None:
    rules = synth.resources[spec.logical_id]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {rule["Prefix"]: rule["ExpirationInDays"] for rule in rules if "ExpirationInDays" in rule}
    assert expiring == dict.fromkeys(spec.expiring_prefixes, EXECUTION_DATA_RETENTION_DAYS)
    assert all(rule["Status"] == "Enabled" for rule in rules)


@pytest.mark.parametrize("spec", BUCKETS, ids=lambda spec: spec.logical_id)
def test_bucket_logs_access_to_a_separate_bucket(synth: Any, spec: BucketSpec) -> None:
    logging = synth.resources[spec.logical_id]["Properties"]["LoggingConfiguration"]
    log_bucket = logging["DestinationBucketName"]["Ref"]
    assert log_bucket != spec.logical_id
    assert logging["LogFilePrefix"] == f"{spec.logical_id}/"
    log_bucket_props = synth.resources[log_bucket]["Properties"]
    assert log_bucket_props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert all(log_bucket_props["PublicAccessBlockConfiguration"].values())
    assert any("ExpirationInDays" in rule for rule in log_bucket_props["LifecycleConfiguration"]["Rules"])


def test_data_is_retained_when_the_stack_is_deleted(synth: Any) -> None:
    for spec in (*BUCKETS, *TABLES):
        assert synth.resources[spec.logical_id]["DeletionPolicy"] == "Retain", spec.logical_id


def test_only_declared_tables_exist(synth: Any) -> None:
    assert set(synth.of_type("AWS::DynamoDB::Table")) == {spec.logical_id for spec in TABLES}


def _key_schema(partition_key: str, sort_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition_key, "KeyType": "HASH"}]
    if sort_key:
        schema.append({"AttributeName": sort_key, "KeyType": "RANGE"})
    return schema


@pytest.mark.parametrize("spec", TABLES, ids=lambda spec: spec.logical_id)
def test_table_matches_declaration(synth: Any, template: Any, spec: TableSpec) -> None:
    from aws_cdk.assertions import Match

    expected: dict[str, Any] = {
        "KeySchema": _key_schema(spec.partition_key, spec.sort_key),
        "BillingMode": "PAY_PER_REQUEST",
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    if spec.ttl_attribute:
        expected["TimeToLiveSpecification"] = {"AttributeName": spec.ttl_attribute, "Enabled": True}
    template.has_resource_properties("AWS::DynamoDB::Table", Match.object_like(expected))
    resource = synth.resources[spec.logical_id]["Properties"]
    assert "ProvisionedThroughput" not in resource
    indexes = {index["IndexName"]: index for index in resource.get("GlobalSecondaryIndexes", [])}
    assert set(indexes) == {index.name for index in spec.global_indexes}
    for index in spec.global_indexes:
        assert indexes[index.name]["KeySchema"] == _key_schema(index.partition_key, index.sort_key)


def test_published_workflows_never_expire(synth: Any) -> None:
    """Workflow versions are kept for good: neither their S3 prefix nor any prefix above it expires."""
    from segflow.domain import s3_layout

    for spec in BUCKETS:
        rules = synth.resources[spec.logical_id]["Properties"]["LifecycleConfiguration"]["Rules"]
        for rule in rules:
            if "ExpirationInDays" in rule:
                assert not s3_layout.WORKFLOWS.startswith(rule.get("Prefix", "")), rule


def test_data_survives_replacement_too(synth: Any) -> None:
    for spec in (*BUCKETS, *TABLES):
        assert synth.resources[spec.logical_id]["UpdateReplacePolicy"] == "Retain", spec.logical_id


@pytest.mark.parametrize(
    "spec", [table for table in TABLES if table.global_indexes], ids=lambda spec: spec.logical_id
)
def test_global_indexes_project_all_attributes_with_string_keys(synth: Any, spec: TableSpec) -> None:
    props = synth.resources[spec.logical_id]["Properties"]
    for index in props["GlobalSecondaryIndexes"]:
        assert index["Projection"] == {"ProjectionType": "ALL"}
        assert "ProvisionedThroughput" not in index
    types = {
        attribute["AttributeName"]: attribute["AttributeType"] for attribute in props["AttributeDefinitions"]
    }
    keys = {spec.partition_key, spec.sort_key} | {
        key for index in spec.global_indexes for key in (index.partition_key, index.sort_key)
    }
    assert types == dict.fromkeys(keys - {None}, "S")


def test_workflows_table(synth: Any) -> None:
    """The workflow version store: pk/sk, the by_tenant index, TTL for idempotency records, PITR, retained."""
    from segflow.declaration import WORKFLOWS_TABLE

    resource = synth.resources[WORKFLOWS_TABLE.logical_id]
    props = resource["Properties"]
    assert props["KeySchema"] == _key_schema("pk", "sk")
    assert [index["IndexName"] for index in props["GlobalSecondaryIndexes"]] == ["by_tenant"]
    assert props["GlobalSecondaryIndexes"][0]["KeySchema"] == _key_schema("gsi1pk", "gsi1sk")
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"


def test_retention_days_sets_the_ttl_horizon_of_every_function_and_the_bucket_lifecycle(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from segflow.declaration import FUNCTIONS
    from segflow.domain.limits import RETENTION_DAYS_ENV

    resources = synth_resources(
        tmp_path_factory.mktemp("cdk.out.retention"), {"retention_days": "7"}, nag=False
    )
    for spec in FUNCTIONS:
        env = resources[spec.logical_id]["Properties"]["Environment"]["Variables"]
        assert env[RETENTION_DAYS_ENV] == "7", spec.logical_id
    rules = [
        rule
        for resource in resources.values()
        if resource["Type"] == "AWS::S3::Bucket"
        for rule in resource["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
        if rule["Id"].startswith("expire-") and rule["Id"] != "expire-access-logs"
    ]
    assert rules and {rule["ExpirationInDays"] for rule in rules} == {7}


def test_a_retention_outside_one_day_to_ten_years_stops_the_synth() -> None:
    from segflow_infra.application import build_app

    with pytest.raises(ValueError, match="retention_days: '0' is not a number of days"):
        build_app(context={"retention_days": "0"})


@pytest.mark.parametrize("spec", TABLES, ids=lambda spec: spec.logical_id)
def test_table_has_a_stream_exactly_when_declared(synth: Any, spec: TableSpec) -> None:
    props = synth.resources[spec.logical_id]["Properties"]
    if spec.stream:
        assert props["StreamSpecification"] == {"StreamViewType": spec.stream}
    else:
        assert "StreamSpecification" not in props


def test_every_stream_consumer_reads_a_declared_stream() -> None:
    from segflow.declaration import STREAM_CONSUMERS

    streams = {spec.logical_id for spec in TABLES if spec.stream}
    for consumer in STREAM_CONSUMERS:
        assert consumer.table in streams, consumer
