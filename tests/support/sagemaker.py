"""Registry versions and endpoint answers in the embedded SageMaker (moto and segflow_local's emulation)."""

from __future__ import annotations

from typing import Any

from segflow_local.lambda_invocation import LOCAL_ACCOUNT_ID, LOCAL_REGION
from segflow_local.sagemaker_emulation import queue_endpoint_answers

IMAGE = f"{LOCAL_ACCOUNT_ID}.dkr.ecr.{LOCAL_REGION}.amazonaws.com/churn-inference:1"


def register_versions(sagemaker: Any, group: str, count: int, status: str = "Approved") -> list[int]:
    """A model package group with ``count`` versions (1..count), each pointing at its own artifact."""
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    versions = []
    for number in range(1, count + 1):
        sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [
                    {"Image": IMAGE, "ModelDataUrl": f"s3://models-{group}/v{number}/model.tar.gz"}
                ],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )
        versions.append(number)
    return versions


def answer_probes(*answers: Any) -> None:
    """What the next health probes get back, in order (moto's endpoint-results queue)."""
    queue_endpoint_answers(list(answers), LOCAL_ACCOUNT_ID, LOCAL_REGION)


def registry_source(group: str, version: int | None = None) -> dict[str, Any]:
    source: dict[str, Any] = {"model_package_group": group}
    if version is not None:
        source["model_package_version"] = version
    return source
