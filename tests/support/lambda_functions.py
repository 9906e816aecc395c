"""Users' own Lambda functions in the embedded moto: a real zip, created with CreateFunction."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from segflow_local.lambda_invocation import LOCAL_ACCOUNT_ID

ROLE_NAME = "segflow-test-user-function"
ROLE_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/{ROLE_NAME}"


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def zip_directory(directory: Path) -> bytes:
    return zip_of({str(p.relative_to(directory)): p.read_text() for p in directory.rglob("*.py")})


def ensure_role(session: Any) -> str:
    """moto checks that a function's role exists."""
    iam = session.client("iam")
    try:
        iam.get_role(RoleName=ROLE_NAME)
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
    return ROLE_ARN


def create_function(
    session: Any,
    name: str,
    code: bytes,
    handler: str = "lambda_function.handler",
    runtime: str = "python3.12",
    **options: Any,
) -> dict[str, Any]:
    """CreateFunction (replacing the code if the function exists already)."""
    client = session.client("lambda")
    try:
        return client.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=ensure_role(session),
            Handler=handler,
            Code={"ZipFile": code},
            **options,
        )
    except client.exceptions.ResourceConflictException:
        return client.update_function_code(FunctionName=name, ZipFile=code)
