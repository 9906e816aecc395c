"""``segflow local up`` runs your own functions (created with CreateFunction) and custom node types too."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.cli.conftest import LocalEndpoint, run_segflow, start_local_endpoint
from tests.conftest import EXAMPLES_DIR
from tests.support.lambda_functions import create_function, zip_directory, zip_of

pytestmark = pytest.mark.e2e


class _Session:
    """What tests.support.lambda_functions needs of a session: clients of the endpoint."""

    def __init__(self, endpoint: LocalEndpoint) -> None:
        self.endpoint = endpoint

    def client(self, service: str) -> Any:
        return self.endpoint.client(service)


# The endpoint runs the custom node; the CLI validates before it starts a run: both load the module.
NODE_MODULES = {
    "SEGFLOW_NODE_MODULES": "credit_nodes",
    "PYTHONPATH": os.pathsep.join(
        filter(None, [str(EXAMPLES_DIR / "custom_nodes"), os.environ.get("PYTHONPATH")])
    ),
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    with start_local_endpoint(
        "userfn", "-c", "invoke_functions=example-score-order", **NODE_MODULES
    ) as local:
        session = _Session(local)
        create_function(session, "example-score-order", zip_directory(EXAMPLES_DIR / "functions/score_order"))
        yield local


def test_invoke_answers_in_lambdas_shape(endpoint: LocalEndpoint) -> None:
    lambda_ = endpoint.client("lambda")
    answer = lambda_.invoke(
        FunctionName="example-score-order",
        Payload=json.dumps({"order_id": "o-1", "lines": [{"qty": 30, "price": 40}]}),
    )
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {
        "order_id": "o-1",
        "total": 1200,
        "risk": "high",
        "idempotency_key": None,
    }

    failed = lambda_.invoke(FunctionName="example-score-order", Payload=json.dumps({"order_id": "o-2"}))
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Payload"].read())
    assert error["errorType"] == "OrderRejected"
    assert error["errorMessage"] == "order 'o-2' has no lines"
    assert any("lambda_function.py" in frame for frame in error["stackTrace"])

    with pytest.raises(ClientError) as missing:
        lambda_.invoke(FunctionName="no-such-function", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_qualifier_reaches_the_alias(endpoint: LocalEndpoint) -> None:
    lambda_ = endpoint.client("lambda")
    session = _Session(endpoint)
    create_function(
        session, "versioned-cli", zip_of({"app.py": "def run(e, c):\n    return 'v1'\n"}), "app.run"
    )
    version = lambda_.publish_version(FunctionName="versioned-cli")["Version"]
    lambda_.create_alias(FunctionName="versioned-cli", Name="live", FunctionVersion=version)
    lambda_.update_function_code(
        FunctionName="versioned-cli", ZipFile=zip_of({"app.py": "def run(e, c):\n    return 2\n"})
    )
    assert (
        json.loads(lambda_.invoke(FunctionName="versioned-cli", Qualifier="live")["Payload"].read()) == "v1"
    )
    assert json.loads(lambda_.invoke(FunctionName="versioned-cli")["Payload"].read()) == 2


@pytest.mark.parametrize("example", ["lambda_invoke", "custom_node"])
def test_the_examples_run_through_the_endpoint(endpoint: LocalEndpoint, example: str) -> None:
    result = run_segflow(
        "run",
        str(EXAMPLES_DIR / f"{example}.json"),
        "--input-file",
        str(EXAMPLES_DIR / f"{example}.input.json"),
        "--endpoint",
        endpoint.url,
        "--json",
        **NODE_MODULES,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["status"] == "SUCCEEDED"
