"""Which IAM actions on which resource ARNs one AWS API call needs, as AWS's authorization tables say.

Covers the operations segflow's handlers and node types call. An operation missing here is refused by the
local runtime (``UnmappedOperation``), never let through: strictness must not depend on a forgotten row.
Sources: the Service Authorization Reference (actions, resource types and condition keys of each service).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from segflow_local.iam_policy import AuthorizationRequest


class UnmappedOperation(Exception):
    """The local runtime does not know which permissions this operation needs."""


def _no_partition_key(table: str, index: str | None) -> str | None:
    return None


@dataclass(frozen=True)
class CallSite:
    region: str
    account: str
    url: str  # the request's URL (API Gateway's @connections calls carry the API id and stage in it)
    # The partition key attribute of a table or one of its indexes (for dynamodb:LeadingKeys); None: unknown.
    partition_key: Callable[[str, str | None], str | None] = _no_partition_key


Mapper = Callable[[str, Mapping[str, Any], CallSite], list[AuthorizationRequest]]


def _arn(service: str, site: CallSite, resource: str, *, region: bool = True, account: bool = True) -> str:
    return f"arn:aws:{service}:{site.region if region else ''}:{site.account if account else ''}:{resource}"


# --- DynamoDB ---------------------------------------------------------------------------------------------

_DYNAMODB_SIMPLE = {
    "GetItem": "dynamodb:GetItem",
    "PutItem": "dynamodb:PutItem",
    "UpdateItem": "dynamodb:UpdateItem",
    "DeleteItem": "dynamodb:DeleteItem",
    "Query": "dynamodb:Query",
    "Scan": "dynamodb:Scan",
    "DescribeTable": "dynamodb:DescribeTable",
    "DescribeTimeToLive": "dynamodb:DescribeTimeToLive",
}
_TRANSACT_WRITE = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def _table_arn(site: CallSite, table: str) -> str:
    if table.startswith("arn:"):
        return table
    return _arn("dynamodb", site, f"table/{table}")


def _scalar(value: Any) -> str:
    """An attribute value's scalar (``{"S": "a"}`` -> ``a``), as IAM sees it in a condition key."""
    return str(next(iter(value.values()))) if isinstance(value, Mapping) and value else str(value)


_EQUALS = re.compile(r"(#?[A-Za-z0-9_.-]+)\s*=\s*(:[A-Za-z0-9_]+)")


def _queried_partition(params: Mapping[str, Any], partition_key: str) -> str | None:
    """The partition key value a Query's key condition names (``pk = :v``, names and values resolved)."""
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    for name, placeholder in _EQUALS.findall(str(params.get("KeyConditionExpression", ""))):
        if names.get(name, name) == partition_key and placeholder in values:
            return _scalar(values[placeholder])
    return None


def _item_context(site: CallSite, body: Mapping[str, Any]) -> dict[str, str | tuple[str, ...]]:
    """The condition keys of one item action or query: ``dynamodb:LeadingKeys`` (the partition key value it
    reaches) and, for a put, ``dynamodb:Attributes`` (the item's attribute names). Keys not known here are
    left out, so statements conditioned on them do not apply."""
    context: dict[str, str | tuple[str, ...]] = {}
    index = body.get("IndexName")
    partition_key = site.partition_key(str(body.get("TableName", "")), str(index) if index else None)
    item = body.get("Item") or body.get("Key")
    if partition_key is not None:
        if isinstance(item, Mapping) and partition_key in item:
            context["dynamodb:LeadingKeys"] = (_scalar(item[partition_key]),)
        elif "KeyConditionExpression" in body:
            queried = _queried_partition(body, partition_key)
            if queried is not None:
                context["dynamodb:LeadingKeys"] = (queried,)
    if isinstance(body.get("Item"), Mapping):
        context["dynamodb:Attributes"] = tuple(body["Item"])
    return context


def _dynamodb(operation: str, params: Mapping[str, Any], site: CallSite) -> list[AuthorizationRequest]:
    if operation in _DYNAMODB_SIMPLE:
        resource = _table_arn(site, params["TableName"])
        if params.get("IndexName") and operation in {"Query", "Scan"}:
            resource = f"{resource}/index/{params['IndexName']}"
        return [AuthorizationRequest(_DYNAMODB_SIMPLE[operation], resource, _item_context(site, params))]
    if operation == "TransactWriteItems":
        return [
            AuthorizationRequest(
                _TRANSACT_WRITE[kind], _table_arn(site, body["TableName"]), _item_context(site, body)
            )
            for item in params["TransactItems"]
            for kind, body in item.items()
        ]
    if operation == "TransactGetItems":
        return [
            AuthorizationRequest("dynamodb:GetItem", _table_arn(site, item["Get"]["TableName"]))
            for item in params["TransactItems"]
        ]
    if operation in {"BatchGetItem", "BatchWriteItem"}:
        return [
            AuthorizationRequest(f"dynamodb:{operation}", _table_arn(site, table))
            for table in params["RequestItems"]
        ]
    raise UnmappedOperation(f"dynamodb:{operation}")


def _dynamodb_streams(
    operation: str, params: Mapping[str, Any], site: CallSite
) -> list[AuthorizationRequest]:
    if operation == "ListStreams":
        return [AuthorizationRequest("dynamodb:ListStreams", "*")]
    if operation in {"DescribeStream", "GetShardIterator"}:
        return [AuthorizationRequest(f"dynamodb:{operation}", params["StreamArn"])]
    if operation == "GetRecords":
        # The shard iterator names its stream; the local poller reads only the events table's stream.
        raise UnmappedOperation("dynamodb:GetRecords (shard iterators carry no stream ARN locally)")
    raise UnmappedOperation(f"dynamodb:{operation}")


# --- S3 ---------------------------------------------------------------------------------------------------

_S3_OBJECT = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
    "GetObjectTagging": "s3:GetObjectTagging",
}


def _s3(operation: str, params: Mapping[str, Any], site: CallSite) -> list[AuthorizationRequest]:
    bucket = params.get("Bucket", "")
    if operation in _S3_OBJECT:
        return [AuthorizationRequest(_S3_OBJECT[operation], f"arn:aws:s3:::{bucket}/{params['Key']}")]
    if operation in {"ListObjectsV2", "ListObjects"}:
        context = {"s3:prefix": str(params.get("Prefix", ""))}
        return [AuthorizationRequest("s3:ListBucket", f"arn:aws:s3:::{bucket}", context)]
    if operation == "CopyObject":
        source = params["CopySource"]
        source_arn = (
            f"arn:aws:s3:::{source['Bucket']}/{source['Key']}"
            if isinstance(source, Mapping)
            else f"arn:aws:s3:::{unquote(str(source)).lstrip('/')}"
        )
        return [
            AuthorizationRequest("s3:GetObject", source_arn),
            AuthorizationRequest("s3:PutObject", f"arn:aws:s3:::{bucket}/{params['Key']}"),
        ]
    if operation == "DeleteObjects":
        return [
            AuthorizationRequest("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{item['Key']}")
            for item in params["Delete"]["Objects"]
        ]
    raise UnmappedOperation(f"s3:{operation}")


# --- Step Functions ---------------------------------------------------------------------------------------


def _states(operation: str, params: Mapping[str, Any], site: CallSite) -> list[AuthorizationRequest]:
    if operation in {"StartExecution", "StartSyncExecution", "DescribeStateMachine", "ListExecutions"}:
        return [AuthorizationRequest(f"states:{operation}", params["stateMachineArn"])]
    if operation in {"DescribeExecution", "StopExecution", "GetExecutionHistory", "RedriveExecution"}:
        return [AuthorizationRequest(f"states:{operation}", params["executionArn"])]
    if operation in {"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"}:
        return [AuthorizationRequest(f"states:{operation}", "*")]  # the token is no resource IAM can name
    raise UnmappedOperation(f"states:{operation}")


# --- Lambda -----------------------------------------------------------------------------------------------


def _lambda(operation: str, params: Mapping[str, Any], site: CallSite) -> list[AuthorizationRequest]:
    if operation not in {"Invoke", "InvokeAsync", "InvokeWithResponseStream"}:
        raise UnmappedOperation(f"lambda:{operation}")
    name = str(params["FunctionName"])
    arn = name if name.startswith("arn:") else _arn("lambda", site, f"function:{name}")
    if params.get("Qualifier") and arn.count(":") == 6:
        arn = f"{arn}:{params['Qualifier']}"
    return [AuthorizationRequest("lambda:InvokeFunction", arn)]


# --- Messaging, parameters, secrets -----------------------------------------------------------------------


def _sns(operation: str, params: Mapping[str, Any], site: CallSite) -> list[AuthorizationRequest]:
    if operation == "Publish":
        return [AuthorizationRequest("sns:Publish", str(params.get("TopicArn") or params.get("TargetArn")))]
    raise UnmappedOperation(f"sns:{operation}")


def _ssm(operation: str, params: Mapping[str, Any], site: CallSite) -> list[AuthorizationRequest]:
    if operation in {"GetParameter", "GetParameters"}:
        names = [params["Name"]] if operation == "GetParameter" else list(params["Names"])
        return [
            AuthorizationRequest(
                "ssm:GetParameters" if operation == "GetParameters" else "ssm:GetParameter",
                name if name.startswith("arn:") else _arn("ssm", site, f"parameter/{name.lstrip('/')}"),
            )
            for name in names
        ]
    raise UnmappedOperation(f"ssm:{operation}")


def _secretsmanager(operation: str, params: Mapping[str, Any], site: CallSite) -> list[AuthorizationRequest]:
    if operation in {"GetSecretValue", "DescribeSecret"}:
        secret = str(params["SecretId"])
        # A secret's ARN ends in a random six-character suffix that a name does not carry.
        arn = secret if secret.startswith("arn:") else _arn("secretsmanager", site, f"secret:{secret}-??????")
        return [AuthorizationRequest(f"secretsmanager:{operation}", arn)]
    raise UnmappedOperation(f"secretsmanager:{operation}")


# --- Bedrock, SageMaker -----------------------------------------------------------------------------------


def _bedrock_model_arn(model_id: str, site: CallSite) -> str:
    if model_id.startswith("arn:"):
        return model_id
    # System-defined cross-region inference profiles are named <geo>.<provider>.<model>.
    if model_id.split(".", 1)[0] in {"us", "eu", "apac", "us-gov", "global", "ca", "jp", "au"}:
        return _arn("bedrock", site, f"inference-profile/{model_id}")
    return _arn("bedrock", site, f"foundation-model/{model_id}", account=False)


def _bedrock_runtime(operation: str, params: Mapping[str, Any], site: CallSite) -> list[AuthorizationRequest]:
    actions = {
        "Converse": "bedrock:InvokeModel",
        "InvokeModel": "bedrock:InvokeModel",
        "ConverseStream": "bedrock:InvokeModelWithResponseStream",
        "InvokeModelWithResponseStream": "bedrock:InvokeModelWithResponseStream",
    }
    if operation not in actions:
        raise UnmappedOperation(f"bedrock:{operation}")
    return [AuthorizationRequest(actions[operation], _bedrock_model_arn(str(params["modelId"]), site))]


_SAGEMAKER_RESOURCES = {
    "CreateModel": ("model", "ModelName"),
    "DescribeModel": ("model", "ModelName"),
    "CreateEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "DescribeEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "CreateEndpoint": ("endpoint", "EndpointName"),
    "UpdateEndpoint": ("endpoint", "EndpointName"),
    "DescribeEndpoint": ("endpoint", "EndpointName"),
    "DescribeModelPackageGroup": ("model-package-group", "ModelPackageGroupName"),
}


def _sagemaker_name_arn(site: CallSite, kind: str, name: str) -> str:
    return name if name.startswith("arn:") else _arn("sagemaker", site, f"{kind}/{name.lower()}")


def _sagemaker(operation: str, params: Mapping[str, Any], site: CallSite) -> list[AuthorizationRequest]:
    if operation in _SAGEMAKER_RESOURCES:
        kind, key = _SAGEMAKER_RESOURCES[operation]
        requests = [
            AuthorizationRequest(f"sagemaker:{operation}", _sagemaker_name_arn(site, kind, params[key]))
        ]
        if operation == "CreateModel" and params.get("ExecutionRoleArn"):
            context = {"iam:PassedToService": "sagemaker.amazonaws.com"}
            requests.append(AuthorizationRequest("iam:PassRole", params["ExecutionRoleArn"], context))
        if operation in {"CreateEndpoint", "UpdateEndpoint"}:  # on the endpoint and on its new config
            config = _sagemaker_name_arn(site, "endpoint-config", params["EndpointConfigName"])
            requests.append(AuthorizationRequest(f"sagemaker:{operation}", config))
        if params.get("Tags"):
            requests.append(AuthorizationRequest("sagemaker:AddTags", requests[0].resource))
        return requests
    if operation == "DescribeModelPackage":
        return [
            AuthorizationRequest(
                "sagemaker:DescribeModelPackage",
                _sagemaker_name_arn(site, "model-package", str(params["ModelPackageName"])),
            )
        ]
    if operation == "ListModelPackages":
        return [AuthorizationRequest("sagemaker:ListModelPackages", "*")]
    raise UnmappedOperation(f"sagemaker:{operation}")


def _sagemaker_runtime(
    operation: str, params: Mapping[str, Any], site: CallSite
) -> list[AuthorizationRequest]:
    if operation == "InvokeEndpoint":
        arn = _sagemaker_name_arn(site, "endpoint", params["EndpointName"])
        return [AuthorizationRequest("sagemaker:InvokeEndpoint", arn)]
    raise UnmappedOperation(f"sagemaker:{operation}")


# --- API Gateway @connections -----------------------------------------------------------------------------

_CONNECTION_METHODS = {"PostToConnection": "POST", "GetConnection": "GET", "DeleteConnection": "DELETE"}


def connections_api(url: str) -> tuple[str, str]:
    """(api id, stage) of an @connections endpoint: ``https://{api}.execute-api.{region}.amazonaws.com/{stage}``;
    the local gateway's endpoint ``http://127.0.0.1:PORT/_segflow/ws/{api}/{stage}`` ends the same way."""
    parts = urlsplit(url)
    path = [p for p in parts.path.split("/") if p]
    host = parts.hostname or ""
    if ".execute-api." in host:
        return host.split(".", 1)[0], path[0] if path else ""
    marker = path.index("@connections") if "@connections" in path else len(path)
    if marker < 2:
        raise UnmappedOperation(f"execute-api:ManageConnections on {url} (no API id and stage in the URL)")
    return path[marker - 2], path[marker - 1]


def _connections(operation: str, params: Mapping[str, Any], site: CallSite) -> list[AuthorizationRequest]:
    if operation not in _CONNECTION_METHODS:
        raise UnmappedOperation(f"execute-api:{operation}")
    api_id, stage = connections_api(site.url)
    resource = f"{api_id}/{stage}/{_CONNECTION_METHODS[operation]}/@connections/{params['ConnectionId']}"
    return [AuthorizationRequest("execute-api:ManageConnections", _arn("execute-api", site, resource))]


def session_tag_context(tags: list[Mapping[str, str]]) -> dict[str, str | tuple[str, ...]]:
    """``aws:RequestTag/<key>`` for each tag and ``aws:TagKeys``, as STS passes session tags to IAM."""
    context: dict[str, str | tuple[str, ...]] = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in tags}
    context["aws:TagKeys"] = tuple(t["Key"] for t in tags)
    return context


def _sts(operation: str, params: Mapping[str, Any], site: CallSite) -> list[AuthorizationRequest]:
    if operation == "GetCallerIdentity":
        return []  # needs no permission
    if operation == "AssumeRole":
        tags = list(params.get("Tags") or [])
        context = session_tag_context(tags)
        requests = [AuthorizationRequest("sts:AssumeRole", params["RoleArn"], context)]
        if tags:
            requests.append(AuthorizationRequest("sts:TagSession", params["RoleArn"], context))
        return requests
    raise UnmappedOperation(f"sts:{operation}")


# botocore service name -> mapper
MAPPERS: dict[str, Mapper] = {
    "dynamodb": _dynamodb,
    "dynamodbstreams": _dynamodb_streams,
    "s3": _s3,
    "stepfunctions": _states,
    "lambda": _lambda,
    "sns": _sns,
    "ssm": _ssm,
    "secretsmanager": _secretsmanager,
    "bedrock-runtime": _bedrock_runtime,
    "sagemaker": _sagemaker,
    "sagemaker-runtime": _sagemaker_runtime,
    "apigatewaymanagementapi": _connections,
    "sts": _sts,
}


def authorizations(
    service: str, operation: str, params: Mapping[str, Any], site: CallSite
) -> list[AuthorizationRequest]:
    mapper = MAPPERS.get(service)
    if mapper is None:
        raise UnmappedOperation(f"{service}:{operation}")
    return mapper(operation, params, site)
