"""SageMaker, as the ``deploy/model`` node needs it: models, endpoint configs, endpoints and health probes.

Every create is idempotent (an existing resource of that name is kept), so a segment retried after a crash
repeats nothing. Errors become the node failures of :mod:`segflow.deployments.errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from segflow.deployments.errors import ArtifactNotFound, SageMakerError
from segflow.deployments.models import EndpointState, ModelPackage, ProbeAnswer
from segflow.deployments.policies import VARIANT_NAME
from segflow.domain.limits import HEALTH_PROBE_MAX_RESPONSE_BYTES

_RETRYABLE_CODES = ("ThrottlingException", "InternalFailure", "ServiceUnavailable", "ModelNotReadyException")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _missing(error: ClientError) -> bool:
    """SageMaker answers a missing resource with a ValidationException "Could not find ..."."""
    message = str(error.response.get("Error", {}).get("Message", ""))
    return _code(error) in ("ValidationException", "ResourceNotFound") and "ould not find" in message


@contextmanager
def _sagemaker_errors(what: str) -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        failure = SageMakerError(f"{what}: {_code(error)}: {error.response.get('Error', {}).get('Message')}")
        failure.retryable = _code(error) in _RETRYABLE_CODES
        raise failure from error
    except BotoCoreError as error:
        failure = SageMakerError(f"{what}: {error}")
        failure.retryable = True
        raise failure from error


class ModelEndpoints:
    def __init__(
        self,
        sagemaker: Any,
        runtime: Any,
        s3: Any,
        execution_role_arn: Callable[[], str],
    ) -> None:
        self._sagemaker = sagemaker
        self._runtime = runtime
        self._s3 = s3
        self._execution_role_arn = execution_role_arn

    # --- model sources --------------------------------------------------------------------------------------

    def model_package(self, group: str, version: int | None) -> ModelPackage:
        """A version of a model package group, or its newest approved version."""
        with _sagemaker_errors(f"model package group {group}"):
            summaries = self._package_summaries(group, "Approved" if version is None else None)
            chosen = next(
                (s for s in summaries if version is None or s.get("ModelPackageVersion") == version), None
            )
            if chosen is None:
                wanted = "an approved version" if version is None else f"version {version}"
                raise ArtifactNotFound(f"model package group {group!r} has no {wanted}")
            described = self._sagemaker.describe_model_package(ModelPackageName=chosen["ModelPackageArn"])
        return ModelPackage(
            arn=described["ModelPackageArn"],
            version=described.get("ModelPackageVersion"),
            approval_status=described.get("ModelApprovalStatus"),
        )

    def _package_summaries(self, group: str, approval: str | None) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "ModelPackageGroupName": group,
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
        }
        if approval:
            request["ModelApprovalStatus"] = approval
        summaries: list[dict[str, Any]] = []
        while True:
            page = self._sagemaker.list_model_packages(**request)
            summaries.extend(page.get("ModelPackageSummaryList", []))
            if approval or not page.get("NextToken"):  # the newest approved one is on the first page
                return summaries
            request["NextToken"] = page["NextToken"]

    def check_artifact(self, s3_uri: str) -> None:
        """Fails when the artifact is missing. Without read access to the user's bucket it cannot tell, and
        leaves the check to SageMaker (its execution role reads the artifact)."""
        bucket, _, key = s3_uri.removeprefix("s3://").partition("/")
        try:
            self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            code = _code(error)
            if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
                raise ArtifactNotFound(f"model artifact {s3_uri} does not exist") from error
            if code not in ("403", "AccessDenied", "Forbidden"):
                raise SageMakerError(f"model artifact {s3_uri}: {code}") from error

    # --- models and endpoint configs ------------------------------------------------------------------------

    def ensure_model(self, name: str, container: dict[str, Any], tags: dict[str, str]) -> None:
        with _sagemaker_errors(f"model {name}"):
            if self._exists(lambda: self._sagemaker.describe_model(ModelName=name)):
                return
            self._sagemaker.create_model(
                ModelName=name,
                PrimaryContainer=container,
                ExecutionRoleArn=self._execution_role_arn(),
                Tags=_tags(tags),
            )

    def ensure_endpoint_config(
        self, name: str, model_name: str, instance_type: str, instance_count: int, tags: dict[str, str]
    ) -> None:
        with _sagemaker_errors(f"endpoint config {name}"):
            if self._exists(lambda: self._sagemaker.describe_endpoint_config(EndpointConfigName=name)):
                return
            self._sagemaker.create_endpoint_config(
                EndpointConfigName=name,
                ProductionVariants=[
                    {
                        "VariantName": VARIANT_NAME,
                        "ModelName": model_name,
                        "InstanceType": instance_type,
                        "InitialInstanceCount": instance_count,
                        "InitialVariantWeight": 1.0,
                    }
                ],
                Tags=_tags(tags),
            )

    @staticmethod
    def _exists(describe: Callable[[], Any]) -> bool:
        try:
            describe()
        except ClientError as error:
            if _missing(error):
                return False
            raise
        return True

    # --- endpoints ------------------------------------------------------------------------------------------

    def endpoint(self, name: str) -> EndpointState | None:
        with _sagemaker_errors(f"endpoint {name}"):
            try:
                described = self._sagemaker.describe_endpoint(EndpointName=name)
            except ClientError as error:
                if _missing(error):
                    return None
                raise
        return EndpointState(
            name=name,
            status=described["EndpointStatus"],
            config_name=described["EndpointConfigName"],
            failure_reason=described.get("FailureReason"),
        )

    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None:
        with _sagemaker_errors(f"create endpoint {name}"):
            self._sagemaker.create_endpoint(
                EndpointName=name, EndpointConfigName=config_name, Tags=_tags(tags)
            )

    def update_endpoint(self, name: str, config_name: str, deployment_config: dict[str, Any] | None) -> None:
        extra = {"DeploymentConfig": deployment_config} if deployment_config else {}
        with _sagemaker_errors(f"update endpoint {name}"):
            self._sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=config_name, **extra)

    def invoke(self, name: str, body: bytes, content_type: str, accept: str) -> ProbeAnswer:
        with _sagemaker_errors(f"invoke endpoint {name}"):
            answer = self._runtime.invoke_endpoint(
                EndpointName=name, Body=body, ContentType=content_type, Accept=accept
            )
            payload = answer["Body"].read(HEALTH_PROBE_MAX_RESPONSE_BYTES)
        return ProbeAnswer(content_type=answer.get("ContentType"), body=payload)


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]
