"""What the examples need on a local endpoint: data, function, model versions and answers, published versions.

``segflow local up --examples`` names the examples' resources (as ``-c`` would), loads their custom node type
and, once the endpoint is ready, calls :func:`prepare_examples`; ``segflow local prepare-examples`` calls it
again against a running endpoint (it queues the model answers anew). The example tests and ``make demo`` call
:func:`seed_examples`. Idempotent. On AWS, create these yourself and name them in the stack's contexts
(``data_tables``, ``data_buckets``, ``notification_topics``, ``invoke_functions``, ``node_modules``).
"""

from __future__ import annotations

import argparse
import io
import json
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segflow.declaration import UserResources

ORDERS_TABLE = "example-orders"  # order_review: hash key order_id
ORDER_LINES_TABLE = "example-order-lines"  # data_query: order_id + line
DATA_BUCKET = "example-segflow-data"  # data_query: prices.csv
ORDER_EVENTS_TOPIC = "example-order-events"  # notification
INVENTORY_TABLE = "example-inventory"  # inventory_reservation: hash key sku
SCORE_ORDER_FUNCTION = "example-score-order"  # lambda_invoke: examples/functions/score_order

# What a stack that runs the examples names in its contexts (cdk deploy -c data_tables=… or
# ``segflow local up --examples``): the examples' nodes may use these and nothing else of yours.
EXAMPLE_USER_RESOURCES = UserResources(
    tables=(ORDERS_TABLE, ORDER_LINES_TABLE, INVENTORY_TABLE),
    buckets=(DATA_BUCKET,),
    topics=(ORDER_EVENTS_TOPIC,),
    functions=(SCORE_ORDER_FUNCTION,),
)

# examples/custom_node.json's node type: the module, in examples/custom_nodes/.
EXAMPLE_NODE_MODULE = "credit_nodes"
EXAMPLE_NODE_MODULE_DIR = "custom_nodes"
# model_promotion / model_rollback: the registry's group, its versions, what the health probes get back.
MODEL_PACKAGE_GROUP = "churn-model"
MODEL_VERSIONS = 3
HEALTHY_PROBE = {"model": "churn", "churn_probability": 0.18}
BROKEN_PROBE = {"model": "churn-broken", "error": "feature 'tenure_months' missing"}
# llm_triage: what the local model answers (the embedded Bedrock answers from a queue).
TRIAGE_ANSWER = '{"urgent": true, "category": "billing", "summary": "double charge"}'
# canary_rollback: published twice, so its rollback has a previous version to go back to.
PUBLISHED_EXAMPLE = "canary_rollback"
FUNCTION_ROLE = "segflow-example-function"

ORDERS = [
    {
        "order_id": "A-1001",
        "customer": "ada@example.com",
        "lines": [{"sku": "kettle", "amount": 400}, {"sku": "mug", "amount": 250}],
    },
]
ORDER_LINES = [
    {"order_id": "A-1001", "line": "1", "sku": "kettle", "qty": 1},
    {"order_id": "A-1001", "line": "2", "sku": "mug", "qty": 4},
]
PRICES_CSV = "sku,price\nkettle,40\nmug,8\n"


def create_table(dynamodb: Any, name: str, *keys: str) -> None:
    """A table with string keys (hash, then range), on demand; nothing when it exists."""
    if name in dynamodb.list_tables()["TableNames"]:
        return
    kinds = ("HASH", "RANGE")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": kind} for key, kind in zip(keys, kinds, strict=False)],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
        BillingMode="PAY_PER_REQUEST",
    )


def put_order(session: Any, order: dict[str, Any], table: str = ORDERS_TABLE) -> None:
    from segflow.adapters.dynamo_items import encode_item

    session.client("dynamodb").put_item(TableName=table, Item=encode_item(order))


def seed_examples(session: Any) -> dict[str, str]:
    """Create the examples' tables, items, bucket, object and topic; returns the topic's ARN by name."""
    dynamodb = session.client("dynamodb")
    create_table(dynamodb, ORDERS_TABLE, "order_id")
    create_table(dynamodb, ORDER_LINES_TABLE, "order_id", "line")
    for order in ORDERS:
        put_order(session, order)
    for line in ORDER_LINES:
        put_order(session, line, ORDER_LINES_TABLE)
    s3 = session.client("s3")
    if DATA_BUCKET not in {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=DATA_BUCKET)
    s3.put_object(Bucket=DATA_BUCKET, Key="prices.csv", Body=PRICES_CSV.encode())
    topic_arn = session.client("sns").create_topic(Name=ORDER_EVENTS_TOPIC)["TopicArn"]
    return {ORDER_EVENTS_TOPIC: topic_arn}


def zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(directory.rglob("*.py")):
            archive.writestr(str(path.relative_to(directory)), path.read_text(encoding="utf-8"))
    return buffer.getvalue()


def create_example_function(session: Any, examples_dir: Path) -> None:
    """examples/functions/score_order as the Lambda function lambda_invoke.json calls (its code replaced when
    it exists), with a role of its own as CreateFunction needs."""
    iam = session.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    try:
        role_arn = iam.get_role(RoleName=FUNCTION_ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role_arn = iam.create_role(RoleName=FUNCTION_ROLE, AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]["Arn"]
    code = zip_directory(examples_dir / "functions" / "score_order")
    client = session.client("lambda")
    try:
        client.create_function(
            FunctionName=SCORE_ORDER_FUNCTION,
            Runtime="python3.12",
            Role=role_arn,
            Handler="lambda_function.handler",
            Code={"ZipFile": code},
        )
    except client.exceptions.ResourceConflictException:
        client.update_function_code(FunctionName=SCORE_ORDER_FUNCTION, ZipFile=code)


def register_model_versions(session: Any) -> None:
    """The model package group the model examples deploy from, with its versions (once)."""
    sagemaker = session.client("sagemaker")
    groups = sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    if MODEL_PACKAGE_GROUP in {group["ModelPackageGroupName"] for group in groups}:
        return
    sagemaker.create_model_package_group(ModelPackageGroupName=MODEL_PACKAGE_GROUP)
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-inference:1"
    for number in range(1, MODEL_VERSIONS + 1):
        sagemaker.create_model_package(
            ModelPackageGroupName=MODEL_PACKAGE_GROUP,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [{"Image": image, "ModelDataUrl": f"s3://models/churn/v{number}/model.tar.gz"}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )


def _post_json(url: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def queue_model_answers(endpoint: str) -> None:
    """What the model examples' health probes get back, in the order the README runs them:
    model_promotion (staging, then production), then model_rollback (a wrong answer: rolled back)."""
    for answer in (HEALTHY_PROBE, HEALTHY_PROBE, BROKEN_PROBE):
        result = {"Body": json.dumps(answer), "ContentType": "application/json"}
        _post_json(f"{endpoint}/moto-api/static/sagemaker/endpoint-results", {"results": [result]})
    _post_json(f"{endpoint}/_segflow/bedrock/answers", {"answers": [TRIAGE_ANSWER]})


def publish_example(api: Any, examples_dir: Path) -> None:
    """canary_rollback, published twice (a stable version and a canary) unless it has two versions."""
    from segflow_cli.api_client import ApiError

    definition = json.loads((examples_dir / f"{PUBLISHED_EXAMPLE}.json").read_text(encoding="utf-8"))
    try:
        published = len(api.versions(definition["workflow_id"])["versions"])
    except ApiError as error:
        if error.status != 404:
            raise
        published = 0
    for message in ("stable", "canary")[published:]:
        api.publish(definition, message)


def prepare_examples(
    endpoint: str, examples_dir: Path, tenant_id: str, announce: Callable[[str], None] = print
) -> None:
    """Everything the examples need on the local endpoint at ``endpoint``, but what only ``local up
    --examples`` can do (name the resources, load the custom node type)."""
    import boto3

    from segflow_cli.api_client import api_for
    from segflow_cli.locate import LOCAL_REGION, EndpointSession, locate_endpoint

    session = EndpointSession(
        endpoint,
        boto3.session.Session(aws_access_key_id="ak", aws_secret_access_key="sk", region_name=LOCAL_REGION),
    )
    seed_examples(session)
    create_table(session.client("dynamodb"), INVENTORY_TABLE, "sku")
    create_example_function(session, examples_dir)
    register_model_versions(session)
    queue_model_answers(endpoint)
    publish_example(api_for(locate_endpoint(endpoint), tenant_id), examples_dir)
    announce(
        f"examples ready: tables, bucket, topic, function {SCORE_ORDER_FUNCTION}, model group "
        f"{MODEL_PACKAGE_GROUP} (v1-v{MODEL_VERSIONS}) and its probe answers, the LLM's answer, "
        f"{PUBLISHED_EXAMPLE} published twice"
    )


def main() -> None:
    import boto3

    from segflow_cli.locate import LOCAL_REGION, EndpointSession

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:4566")
    endpoint = parser.parse_args().endpoint
    session = boto3.session.Session(
        aws_access_key_id="ak", aws_secret_access_key="sk", region_name=LOCAL_REGION
    )
    for name, arn in seed_examples(EndpointSession(endpoint, session)).items():
        print(f"{name}: {arn}")


if __name__ == "__main__":
    main()
