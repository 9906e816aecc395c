"""The executions table: one item per execution (META), per node with side effects (NODE#id), per page of
pure nodes (NODES#segment#first node), per segment run (SEG#id), and one noting how it was started (LAUNCH).

Node records: a node that waits, asks or has side effects keeps one item, written at each of its state
changes under a condition (its first outcome is final). Pure nodes, and nodes skipped, are written in pages:
one item per segment per batch (``sk = NODES#<segment_id>#<first node id>``) holding the batch's records of
that segment as compressed JSON (``nodes``, binary), written once (``attribute_not_exists``), or replaced
while it holds a single record without an outcome (``open``: a node deferred to the next invocation). A
segment runs its nodes in order, and a batch starts at its first node without an outcome, so two attempts of
one segment that race write the same key and the second finds the first's outcomes. Readers merge pages and
items: a node's outcome wherever it is, else its latest state.

Every key starts with the tenant: ``pk = EXEC#<tenant>#<execution_id>`` for META and nodes, with
``#STAGE#<stage>`` appended for the segment outcomes of one stage. Items expire through the TTL
attribute after the retention period. META items also carry the ``by_tenant`` index's keys
(``gsi1pk = TENANT#<tenant>``, ``gsi1sk = <started_at>#<execution_id>``): a tenant's executions, newest first.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from segflow.adapters.dynamo_items import decode_item as _decode
from segflow.adapters.dynamo_items import encode_item as _encode
from segflow.adapters.dynamo_items import expires_at
from segflow.domain.errors import CheckpointConflict
from segflow.domain.limits import LAUNCH_NOTE_KEPT_SECONDS, NODE_PAGE_MAX_BYTES, SEGMENT_SOURCES_MAX
from segflow.domain.records import (
    ExecutionRecord,
    NodeRecord,
    SegmentRecord,
)
from segflow.domain.statuses import TERMINAL_NODE_STATUSES

BY_TENANT_INDEX = "by_tenant"
_TABLE_KEYS = ("pk", "sk")
# The item noting that an execution was started (see ExecutionRecordStore.record_launch).
LAUNCH = "LAUNCH"
_INDEX_KEYS = ("gsi1pk", "gsi1sk")
# A node record may be written while it holds no outcome; its first outcome is final.
_NO_OUTCOME_YET = "attribute_not_exists(sk) OR NOT (#status IN (:succeeded, :failed, :skipped))"
NODE_ITEM = "NODE#"
NODE_PAGE = "NODES#"
# A page is written once, unless it holds one record without an outcome (then the node's next state may
# replace it, as a node item's may).
_PAGE_NOT_DECIDED = "attribute_not_exists(sk) OR #open = :open"
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


@dataclass(frozen=True)
class NodePage:
    """One page of node records to write: its segment, the nodes it holds, its conditional Put."""

    segment_id: str
    node_ids: list[str]
    put: dict[str, Any]


def page_sk(segment_id: str, first_node_id: str) -> str:
    return f"{NODE_PAGE}{segment_id}#{first_node_id}"


def _pack(records: list[dict[str, Any]]) -> bytes:
    return zlib.compress(json.dumps(records, separators=(",", ":"), ensure_ascii=False).encode())


def _follows(before: str, after: str) -> bool:
    """Whether ``after`` is the id right after ``before`` (s00012, s00013): their pages are next to each
    other in the table, and one query reads both."""
    a, b = _NUMBERED.match(before), _NUMBERED.match(after)
    return bool(a and b and a[1] == b[1] and len(a[2]) == len(b[2]) and int(b[2]) == int(a[2]) + 1)


def execution_pk(tenant_id: str, execution_id: str) -> str:
    return f"EXEC#{tenant_id}#{execution_id}"


def stage_pk(tenant_id: str, execution_id: str, stage: int) -> str:
    # Segment outcomes get a partition per stage, so checking a stage never reads the node records.
    return f"EXEC#{tenant_id}#{execution_id}#STAGE#{stage:06d}"


def tenant_index_keys(record: ExecutionRecord) -> dict[str, str]:
    return {"gsi1pk": f"TENANT#{record.tenant_id}", "gsi1sk": f"{record.started_at}#{record.execution_id}"}


class ExecutionRecordStore:
    def __init__(self, table_name: str, dynamodb_client: Any) -> None:
        self.table_name = table_name
        self._client = dynamodb_client

    def _expires_at(self) -> int:
        return expires_at()

    # --- executions -------------------------------------------------------------------------------------

    def create_execution(self, record: ExecutionRecord) -> bool:
        """Create the META item once; returns False if it already existed (a retried initialization)."""
        item = {
            "pk": execution_pk(record.tenant_id, record.execution_id),
            "sk": "META",
            "expires_at": self._expires_at(),
            **tenant_index_keys(record),
            **record.model_dump(exclude_none=True),
        }
        try:
            self._client.put_item(
                TableName=self.table_name, Item=_encode(item), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get_execution(self, tenant_id: str, execution_id: str) -> ExecutionRecord | None:
        response = self._client.get_item(
            TableName=self.table_name,
            Key=_encode({"pk": execution_pk(tenant_id, execution_id), "sk": "META"}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        data = _decode(item)
        return ExecutionRecord.model_validate(
            {k: v for k, v in data.items() if k in ExecutionRecord.model_fields}
        )

    def list_executions(
        self,
        tenant_id: str,
        limit: int,
        after: dict[str, Any] | None = None,
        workflow_id: str | None = None,
        status: str | None = None,
        max_reads: int = 10,
    ) -> tuple[list[ExecutionRecord], dict[str, Any] | None]:
        """Up to ``limit`` of the tenant's executions, newest first, of ``workflow_id`` and in ``status`` if
        given, after the position ``after``; and the position after the last one returned (None at the end).
        A selective filter may end a page early (after ``max_reads`` reads) with a position to go on from."""
        filters, values, names = [], {":tenant": f"TENANT#{tenant_id}"}, {}
        if workflow_id is not None:
            filters.append("workflow_id = :workflow")
            values[":workflow"] = workflow_id
        if status is not None:
            filters.append("#status = :status")
            values[":status"] = status
            names["#status"] = "status"
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": BY_TENANT_INDEX,
            "KeyConditionExpression": "gsi1pk = :tenant",
            "ExpressionAttributeValues": _encode(values),
            "ScanIndexForward": False,
        }
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        if names:
            request["ExpressionAttributeNames"] = names
        if after is not None:
            request["ExclusiveStartKey"] = _encode(after)
        found: list[ExecutionRecord] = []
        for _ in range(max_reads):
            response = self._client.query(**request, Limit=max(limit, 25))
            items = response.get("Items", [])
            for index, item in enumerate(items):
                data = _decode(item)
                found.append(
                    ExecutionRecord.model_validate(
                        {k: v for k, v in data.items() if k in ExecutionRecord.model_fields}
                    )
                )
                if len(found) == limit:
                    more = index < len(items) - 1 or "LastEvaluatedKey" in response
                    position = {k: data[k] for k in (*_TABLE_KEYS, *_INDEX_KEYS)}
                    return found, position if more else None
            if "LastEvaluatedKey" not in response:
                return found, None
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found, _decode(request["ExclusiveStartKey"])

    def finish_execution(self, tenant_id: str, execution_id: str, **fields: Any) -> None:
        names, values, sets = {}, {}, []
        for index, (key, value) in enumerate(fields.items()):
            if value is None:
                continue
            names[f"#f{index}"] = key
            values[f":v{index}"] = value
            sets.append(f"#f{index} = :v{index}")
        self._client.update_item(
            TableName=self.table_name,
            Key=_encode({"pk": execution_pk(tenant_id, execution_id), "sk": "META"}),
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=_encode(values),
        )

    def record_continuation(self, tenant_id: str, execution_id: str, part: int, execution_name: str) -> bool:
        """Note that part ``part`` of a running execution runs as ``execution_name``; False if that part was
        recorded already (a retried ContinueExecution), or the execution is not running."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=_encode({"pk": execution_pk(tenant_id, execution_id), "sk": "META"}),
                UpdateExpression="SET parts = :part, current_execution = :name",
                ConditionExpression="#status = :running AND (attribute_not_exists(parts) OR parts < :part)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=_encode(
                    {":part": part, ":name": execution_name, ":running": "RUNNING"}
                ),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record_launch(self, tenant_id: str, execution_id: str, request: dict[str, Any], at: float) -> None:
        """Note that the execution was started with ``request`` (its ExecutionRequest; the input left out):
        describe finds it here before Step Functions' DescribeExecution, which is eventually consistent,
        shows it and before InitializeStateBag writes its META."""
        item = {
            "pk": execution_pk(tenant_id, execution_id),
            "sk": LAUNCH,
            # Read only while Step Functions may not show the execution yet: kept a day, not the retention.
            "expires_at": min(self._expires_at(), int(at) + LAUNCH_NOTE_KEPT_SECONDS),
            "launched_at": at,
            "request_json": json.dumps({k: v for k, v in request.items() if k not in ("input", "input_ref")}),
        }
        self._client.put_item(TableName=self.table_name, Item=_encode(item))

    def get_launch(self, tenant_id: str, execution_id: str) -> tuple[dict[str, Any], float] | None:
        """(the request of :meth:`record_launch`, when), or None if this execution was not started so."""
        response = self._client.get_item(
            TableName=self.table_name,
            Key=_encode({"pk": execution_pk(tenant_id, execution_id), "sk": LAUNCH}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        data = _decode(item)
        return json.loads(data["request_json"]), float(data["launched_at"])

    def claim_resume(
        self, tenant_id: str, execution_id: str, resumed_by: str, at: float
    ) -> tuple[str, float] | None:
        """Record on the execution that ``resumed_by`` resumes it, unless another resume did first: None if
        this claim took, else the claim that holds (the execution, when; ``("", 0)`` if it was withdrawn
        meanwhile). Conditional, so of concurrent resumes of one failure exactly one wins."""
        return self._claim(tenant_id, execution_id, resumed_by, at, "attribute_not_exists(resumed_by)", {})

    def take_over_resume(
        self, tenant_id: str, execution_id: str, stale: str, resumed_by: str, at: float
    ) -> tuple[str, float] | None:
        """Move a claim whose resume never started (``stale``) to ``resumed_by``; as :meth:`claim_resume`."""
        return self._claim(tenant_id, execution_id, resumed_by, at, "resumed_by = :stale", {":stale": stale})

    def release_resume(self, tenant_id: str, execution_id: str, resumed_by: str) -> None:
        """Withdraw ``resumed_by``'s claim (its execution could not start); another's claim stays."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=_encode({"pk": execution_pk(tenant_id, execution_id), "sk": "META"}),
                UpdateExpression="REMOVE resumed_by, resumed_at",
                ConditionExpression="resumed_by = :me",
                ExpressionAttributeValues=_encode({":me": resumed_by}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def resume_claim(self, tenant_id: str, execution_id: str) -> tuple[str, float] | None:
        """(the execution that claimed the resume of this one, when), or None."""
        response = self._client.get_item(
            TableName=self.table_name,
            Key=_encode({"pk": execution_pk(tenant_id, execution_id), "sk": "META"}),
            ConsistentRead=True,
            ProjectionExpression="resumed_by, resumed_at",
        )
        data = _decode(response.get("Item") or {})
        if "resumed_by" not in data:
            return None
        return str(data["resumed_by"]), float(data.get("resumed_at", 0))

    def _claim(
        self,
        tenant_id: str,
        execution_id: str,
        resumed_by: str,
        at: float,
        condition: str,
        values: dict[str, Any],
    ) -> tuple[str, float] | None:
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=_encode({"pk": execution_pk(tenant_id, execution_id), "sk": "META"}),
                UpdateExpression="SET resumed_by = :by, resumed_at = :at",
                ConditionExpression=f"attribute_exists(pk) AND {condition}",
                ExpressionAttributeValues=_encode({":by": resumed_by, ":at": at, **values}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return self.resume_claim(tenant_id, execution_id) or ("", 0.0)
        return None

    # --- nodes ------------------------------------------------------------------------------------------

    def node_put(self, tenant_id: str, execution_id: str, record: NodeRecord) -> dict[str, Any]:
        """The conditional Put of a node's checkpoint (for a TransactWriteItems list, or alone)."""
        item = {
            "pk": execution_pk(tenant_id, execution_id),
            "sk": f"NODE#{record.node_id}",
            "expires_at": self._expires_at(),
            **record.model_dump(exclude_none=True),
        }
        return {
            "TableName": self.table_name,
            "Item": _encode(item),
            "ConditionExpression": _NO_OUTCOME_YET,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": _encode(
                {":succeeded": "succeeded", ":failed": "failed", ":skipped": "skipped"}
            ),
        }

    def put_node(self, tenant_id: str, execution_id: str, record: NodeRecord) -> None:
        """Write a node's checkpoint, unless an outcome (succeeded, failed, skipped) is recorded already:
        then :class:`CheckpointConflict` carries it. Two attempts of one segment cannot overwrite an
        outcome, so the first one recorded is the one every reader sees."""
        try:
            self._client.put_item(
                **self.node_put(tenant_id, execution_id, record),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            stored = error.response.get("Item")
            if not stored:
                raise self.conflict(tenant_id, execution_id, record.node_id) from error
            raise CheckpointConflict(self._node_from_item(stored)) from error

    def conflict(self, tenant_id: str, execution_id: str, node_id: str) -> CheckpointConflict:
        """The conflict with the outcome stored in ``node_id``'s item (read now)."""
        found = self._node_items(tenant_id, execution_id, [node_id]).get(node_id)
        if found is None:
            raise RuntimeError(f"node '{node_id}' failed its checkpoint condition but has no record")
        return CheckpointConflict(found)

    def put_nodes(self, tenant_id: str, execution_id: str, records: list[NodeRecord]) -> None:
        """Write many node records in BatchWriteItem calls of 25 (retrying unprocessed items)."""
        pk = execution_pk(tenant_id, execution_id)
        expires_at = self._expires_at()
        latest = {record.node_id: record for record in records}  # a batch may not hold one key twice
        requests = [
            {
                "PutRequest": {
                    "Item": _encode(
                        {
                            "pk": pk,
                            "sk": f"NODE#{r.node_id}",
                            "expires_at": expires_at,
                            **r.model_dump(exclude_none=True),
                        }
                    )
                }
            }
            for r in latest.values()
        ]
        for start in range(0, len(requests), 25):
            pending = {self.table_name: requests[start : start + 25]}
            while pending:
                response = self._client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if pending:
                    time.sleep(0.05)

    def node_pages(self, tenant_id: str, execution_id: str, records: list[NodeRecord]) -> list[NodePage]:
        """The pages that write ``records`` (in the order they were reached): per segment, as few as hold
        them within NODE_PAGE_MAX_BYTES of JSON each, each keyed by its first node."""
        by_segment: dict[str, list[NodeRecord]] = {}
        for record in records:
            by_segment.setdefault(record.segment_id, []).append(record)
        pages: list[NodePage] = []
        for segment_id, segment_records in by_segment.items():
            chunk: list[dict[str, Any]] = []
            size = 0
            for record in segment_records:
                data = record.model_dump(exclude_none=True)
                grows = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()) + 1
                if chunk and size + grows > NODE_PAGE_MAX_BYTES:
                    pages.append(self._page(tenant_id, execution_id, segment_id, chunk))
                    chunk, size = [], 0
                chunk.append(data)
                size += grows
            pages.append(self._page(tenant_id, execution_id, segment_id, chunk))
        return pages

    def _page(
        self, tenant_id: str, execution_id: str, segment_id: str, records: list[dict[str, Any]]
    ) -> NodePage:
        item: dict[str, Any] = {
            "pk": execution_pk(tenant_id, execution_id),
            "sk": page_sk(segment_id, records[0]["node_id"]),
            "nodes": _pack(records),
            "count": len(records),
            "expires_at": self._expires_at(),
        }
        if len(records) == 1 and records[0]["status"] not in TERMINAL_NODE_STATUSES:
            item["open"] = True
        put = {
            "TableName": self.table_name,
            "Item": _encode(item),
            "ConditionExpression": _PAGE_NOT_DECIDED,
            "ExpressionAttributeNames": {"#open": "open"},
            "ExpressionAttributeValues": _encode({":open": True}),
        }
        return NodePage(segment_id, [record["node_id"] for record in records], put)

    def get_nodes(
        self,
        tenant_id: str,
        execution_id: str,
        node_ids: list[str],
        segments: Sequence[str] | None = None,
    ) -> dict[str, NodeRecord]:
        """The records of ``node_ids`` that exist. ``segments``: the segments whose pages may hold them
        (None: any of the execution's pages, all read when a node is not found in its own item)."""
        unique = list(dict.fromkeys(node_ids))
        found: dict[str, NodeRecord] = {}
        # Many nodes of unknown segments (a join of many branches): every page first, one pass.
        pages_first = segments is not None or len(unique) > SEGMENT_SOURCES_MAX
        if pages_first:
            paged = self.segment_nodes(tenant_id, execution_id, segments)
            found = {node_id: paged[node_id] for node_id in unique if node_id in paged}
        found.update(self._node_items(tenant_id, execution_id, [n for n in unique if n not in found]))
        missing = [node_id for node_id in unique if node_id not in found]
        if missing and not pages_first:
            paged = self.segment_nodes(tenant_id, execution_id, None)
            found.update({node_id: paged[node_id] for node_id in missing if node_id in paged})
        return found

    def segment_nodes(
        self, tenant_id: str, execution_id: str, segments: Sequence[str] | None
    ) -> dict[str, NodeRecord]:
        """Every record the pages of ``segments`` hold (None: all of the execution's pages), merged."""
        pk = execution_pk(tenant_id, execution_id)
        wanted = sorted(set(segments)) if segments is not None else []
        groups: list[list[str]] = []
        for segment_id in wanted:
            if groups and _follows(groups[-1][-1], segment_id):
                groups[-1].append(segment_id)
            else:
                groups.append([segment_id])
        # Ranges rather than prefixes ("#" < "$": ``NODES#s1#…`` lies between ``NODES#s1#`` and ``NODES#s1$``)
        items: list[dict[str, Any]] = []
        if segments is None or len(groups) > SEGMENT_SOURCES_MAX + 1:
            items = self._query_range(pk, NODE_PAGE, f"{NODE_PAGE[:-1]}$")
        else:
            for group in groups:  # pages of neighbouring segments: one range
                items += self._query_range(pk, f"{NODE_PAGE}{group[0]}#", f"{NODE_PAGE}{group[-1]}$")
        merged = self._merged(items)
        if segments is None:
            return merged
        keep = set(wanted)
        return {node_id: record for node_id, record in merged.items() if record.segment_id in keep}

    def _node_items(self, tenant_id: str, execution_id: str, node_ids: list[str]) -> dict[str, NodeRecord]:
        pk = execution_pk(tenant_id, execution_id)
        found: dict[str, NodeRecord] = {}
        for start in range(0, len(node_ids), 100):
            keys = [
                _encode({"pk": pk, "sk": f"{NODE_ITEM}{node_id}"})
                for node_id in node_ids[start : start + 100]
            ]
            request = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self._client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table_name, []):
                    record = self._node_from_item(item)
                    found[record.node_id] = record
                request = response.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(0.05)
        return found

    def list_nodes(self, tenant_id: str, execution_id: str) -> list[NodeRecord]:
        """Every node record of the execution (node items and pages alike), by node id."""
        pk = execution_pk(tenant_id, execution_id)
        merged = self._merged(self._query_range(pk, NODE_ITEM, f"{NODE_PAGE[:-1]}$"))  # items and pages
        return [merged[node_id] for node_id in sorted(merged)]

    @classmethod
    def _merged(cls, items: list[dict[str, Any]]) -> dict[str, NodeRecord]:
        """Node items and pages (in key order) to one record per node: its outcome wherever it is; without
        one, its latest state (the page it starts, written after any page it ends)."""
        candidates: dict[str, list[tuple[int, NodeRecord]]] = {}
        for item in items:
            sk = item["sk"]["S"]
            if sk.startswith(NODE_PAGE):
                first = sk.split("#", 2)[2]
                for data in json.loads(zlib.decompress(bytes(item["nodes"]["B"]))):
                    record = NodeRecord.model_validate(data)
                    rank = 2 if record.node_id == first else 1
                    candidates.setdefault(record.node_id, []).append((rank, record))
            elif sk.startswith(NODE_ITEM):
                record = cls._node_from_item(item)
                candidates.setdefault(record.node_id, []).append((0, record))
        merged: dict[str, NodeRecord] = {}
        for node_id, found in candidates.items():
            decided = [record for _, record in found if record.status in TERMINAL_NODE_STATUSES]
            merged[node_id] = decided[0] if decided else max(found, key=lambda c: c[0])[1]
        return merged

    @staticmethod
    def _node_from_item(item: dict[str, Any]) -> NodeRecord:
        data = _decode(item)
        return NodeRecord.model_validate({k: v for k, v in data.items() if k in NodeRecord.model_fields})

    # --- segments ---------------------------------------------------------------------------------------

    def put_segment(self, tenant_id: str, execution_id: str, record: SegmentRecord) -> bool:
        """Record a segment's outcome; False (nothing written) if another attempt's outcome, succeeded or
        failed, is recorded already."""
        item = {
            "pk": stage_pk(tenant_id, execution_id, record.stage),
            "sk": f"SEG#{record.segment_id}",
            "expires_at": self._expires_at(),
            **record.model_dump(exclude_none=True),
        }
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=_encode(item),
                ConditionExpression="attribute_not_exists(sk) OR NOT (#status IN (:succeeded, :failed))",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=_encode({":succeeded": "succeeded", ":failed": "failed"}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def list_segments(
        self, tenant_id: str, execution_id: str, stage: int, between: tuple[str, str] | None = None
    ) -> list[SegmentRecord]:
        """The stage's segment records; ``between``: those of the segment ids in that range (a batch's)."""
        pk = stage_pk(tenant_id, execution_id, stage)
        if between is None:
            items = self._query(pk, "SEG#")
        else:
            first, last = between
            items = self._query_range(pk, f"SEG#{first}", f"SEG#{last}")
        return [
            SegmentRecord.model_validate(
                {k: v for k, v in _decode(i).items() if k in SegmentRecord.model_fields}
            )
            for i in items
        ]

    def _query(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        return self._query_all(
            {
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": _encode({":pk": pk, ":prefix": prefix}),
            }
        )

    def _query_range(self, pk: str, first: str, last: str) -> list[dict[str, Any]]:
        return self._query_all(
            {
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
                "ExpressionAttributeValues": _encode({":pk": pk, ":first": first, ":last": last}),
            }
        )

    def _query_all(self, condition: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True, **condition}
        while True:
            response = self._client.query(**request)
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
