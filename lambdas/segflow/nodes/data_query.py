"""``data_query``: reads data for the nodes after it, from a DynamoDB table, an S3 object or an HTTP GET.

``source`` selects where (``dynamodb`` with ``operation`` ``get`` or ``query``, ``s3``, ``http``). The node's
output is what was read (an item, a list of items, the object's JSON / CSV rows / text, the answer's body),
projected by the optional JMESPath ``select``. A result larger than ``max_result_bytes`` fails the node rather
than filling the output store. The stack grants reads on the tables and buckets of its ``data_tables`` and
``data_buckets`` contexts only.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from segflow.domain.errors import NodeFailure, ResultTooLarge
from segflow.domain.limits import (
    DATA_QUERY_DEFAULT_ITEMS,
    DATA_QUERY_MAX_CONCURRENCY,
    DATA_QUERY_MAX_ITEMS,
    DATA_QUERY_MAX_RESULT_BYTES,
    DATA_QUERY_MAX_SOURCE_BYTES,
    DATA_QUERY_RESULT_CAP_BYTES,
    HTTP_DEFAULT_TIMEOUT_SECONDS,
)
from segflow.dsl.templates import compile_expression
from segflow.nodes.base import NodeContext, NodeResult, NodeType, configured_seconds
from segflow.nodes.dynamodb_update import check_table_name
from segflow.nodes.http_client import FollowRedirects, HttpError, check_http_url, send
from segflow.nodes.services import DataBuckets, DataTables

Missing = Literal["fail", "null"]


class NotFound(NodeFailure):
    """The query's source (table, object, item) does not exist."""

    error_type = "NotFound"


class InvalidData(NodeFailure):
    """The source's content could not be read as the query expects."""

    error_type = "InvalidData"


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    select: str | None = Field(
        default=None,
        description="JMESPath over what was read (not a {{ template }}); its value is the output.",
    )
    max_result_bytes: int = Field(
        default=DATA_QUERY_MAX_RESULT_BYTES,
        gt=0,
        le=DATA_QUERY_RESULT_CAP_BYTES,
        description="A larger result (as JSON, after select) fails the node with ResultTooLarge.",
    )

    @field_validator("select")
    @classmethod
    def _compiles(cls, select: str | None) -> str | None:
        if select is not None and "{{" not in select:
            compile_expression(select)  # a TemplateError is a ValueError: pydantic names the field
        return select


class _DynamoDb(_Query):
    source: Literal["dynamodb"]
    table: str = Field(min_length=1, description="The table's name (the stack's data_tables must list it).")
    consistent_read: bool = False

    @field_validator("table")
    @classmethod
    def _table_name(cls, table: str) -> str:
        return check_table_name(table)


class DynamoDbGet(_DynamoDb):
    """GetItem: the item with this key."""

    operation: Literal["get"]
    key: dict[str, Any] = Field(min_length=1, description="The item's primary key, as plain values.")
    missing: Missing = Field(default="fail", description="No such item: fail with NotFound, or output null.")


class DynamoDbQuery(_DynamoDb):
    """Query: the items matching a key condition, in sort key order, on the table or one of its indexes."""

    operation: Literal["query"]
    key_condition_expression: str = Field(min_length=1)
    expression_attribute_values: dict[str, Any] = Field(min_length=1)
    expression_attribute_names: dict[str, str] = Field(default_factory=dict)
    filter_expression: str | None = None
    index: str | None = Field(default=None, min_length=3, description="A secondary index of the table.")
    limit: int = Field(default=DATA_QUERY_DEFAULT_ITEMS, ge=1, le=DATA_QUERY_MAX_ITEMS)
    scan_forward: bool = Field(default=True, description="false: descending sort key order.")


class S3Object(_Query):
    """GetObject: the object as JSON, CSV (a header line, then rows: a list of objects) or text."""

    source: Literal["s3"]
    bucket: str = Field(min_length=3, description="The bucket (the stack's data_buckets must list it).")
    key: str = Field(min_length=1)
    format: Literal["json", "csv", "text"] = "json"
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV only.")
    missing: Missing = Field(
        default="fail", description="No such object: fail with NotFound, or output null."
    )


class HttpGet(_Query):
    """An HTTP GET (with the Idempotency-Key header api_call sends); the output is the answer's body."""

    source: Literal["http"]
    url: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float | None = Field(default=None, gt=0, le=900)
    missing: Missing = Field(default="fail", description="A 404 answer: fail with HttpError, or output null.")
    follow_redirects: FollowRedirects = Field(
        default="never",
        description="never, or same_origin: follow redirects to the same scheme, host and port.",
    )

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        return check_http_url(url)


Source = Annotated[
    Annotated[DynamoDbGet | DynamoDbQuery, Field(discriminator="operation")] | S3Object | HttpGet,
    Field(discriminator="source"),
]


class DataQueryConfig(RootModel[Source]):
    model_config = ConfigDict(defer_build=True)


def _get_item(config: DynamoDbGet, tables: DataTables) -> Any:
    item = tables.get_item(config.table, config.key, config.consistent_read)
    if item is None and config.missing == "fail":
        raise NotFound(f"{config.table}: no item with key {json.dumps(config.key)}")
    return item


def _query(config: DynamoDbQuery, tables: DataTables) -> list[dict[str, Any]]:
    return tables.query(
        config.table,
        config.key_condition_expression,
        config.expression_attribute_values,
        expression_attribute_names=config.expression_attribute_names,
        filter_expression=config.filter_expression,
        index=config.index,
        scan_forward=config.scan_forward,
        consistent_read=config.consistent_read,
        limit=config.limit,
    )


def _parse(config: S3Object, raw: bytes) -> Any:
    where = f"s3://{config.bucket}/{config.key}"
    try:
        text = raw.decode("utf-8-sig")
        if config.format == "json":
            return json.loads(text)
        if config.format == "csv":
            return list(csv.DictReader(io.StringIO(text), delimiter=config.delimiter))
        return text
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as error:
        raise InvalidData(f"{where} is not {config.format}: {error}") from error


def _get_object(config: S3Object, buckets: DataBuckets) -> Any:
    raw = buckets.get_object(config.bucket, config.key, DATA_QUERY_MAX_SOURCE_BYTES)
    if raw is None:
        if config.missing == "null":
            return None
        raise NotFound(f"s3://{config.bucket}/{config.key}: no such object")
    return _parse(config, raw)


def _http_get(config: HttpGet, context: NodeContext) -> Any:
    try:
        answer = send(
            "GET",
            config.url,
            idempotency_key=context.idempotency_key,
            timeout=config.timeout_seconds or context.timeout_seconds or HTTP_DEFAULT_TIMEOUT_SECONDS,
            headers=config.headers,
            query=config.query,
            follow_redirects=config.follow_redirects,
        )
    except HttpError as error:
        if config.missing == "null" and error.status == 404:
            return None
        raise
    return answer.body


def _read(config: DynamoDbGet | DynamoDbQuery | S3Object | HttpGet, context: NodeContext) -> Any:
    if isinstance(config, DynamoDbGet):
        return _get_item(config, context.services.data_tables)
    if isinstance(config, DynamoDbQuery):
        return _query(config, context.services.data_tables)
    if isinstance(config, S3Object):
        return _get_object(config, context.services.data_buckets)
    return _http_get(config, context)


def run_data_query(context: NodeContext) -> NodeResult:
    config = context.config.root
    result = _read(config, context)
    if config.select:
        result = compile_expression(config.select).search(result)
    size = len(json.dumps(result, separators=(",", ":")).encode())
    if size > config.max_result_bytes:
        raise ResultTooLarge(
            f"the result is {size} bytes, more than max_result_bytes ({config.max_result_bytes}): "
            "narrow it with select, a limit or a smaller source"
        )
    return NodeResult(output=result)


NODE_TYPE = NodeType(
    type="data_query",
    config_model=DataQueryConfig,
    description="Reads a DynamoDB item or query, an S3 object (JSON, CSV, text) or HTTP GET, then selects.",
    executor=run_data_query,
    blocks_for=lambda raw: (
        configured_seconds(raw, HTTP_DEFAULT_TIMEOUT_SECONDS) if raw.get("source") == "http" else None
    ),
    max_concurrency=DATA_QUERY_MAX_CONCURRENCY,
)
