"""The functions' dependencies layer for CDK, built on this machine by ``lambda_bundle`` (no Docker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from segflow.declaration import LAMBDA_ASSET_DIR

from segflow_infra.lambda_bundle import REQUIREMENTS_FILE, Target, build_layer
from segflow_infra.paths import repo_path


@jsii.implements(cdk.ILocalBundling)
class LocalBundling:
    """CDK's local bundling hook: builds the layer into the folder CDK gives, never falls back to Docker."""

    def __init__(self, target: Target) -> None:
        self._target = target

    def try_bundle(self, output_dir: str, _options: Any = None) -> bool:
        build_layer(Path(output_dir), self._target)
        return True


def dependencies_layer(
    scope: Construct, construct_id: str, runtime: lambda_.Runtime, architecture: lambda_.Architecture
) -> lambda_.LayerVersion:
    """The pinned dependencies built for ``runtime`` on ``architecture``. Its asset is named by a hash of what
    it holds: a changed pin publishes a new layer version, an unchanged one uploads nothing."""
    target = Target.for_lambda(runtime.name, architecture.name)
    code = lambda_.Code.from_asset(
        # The bundler reads the requirements itself; the asset's source only anchors it in lambdas/.
        str(repo_path(LAMBDA_ASSET_DIR)),
        asset_hash_type=cdk.AssetHashType.OUTPUT,
        bundling=cdk.BundlingOptions(image=runtime.bundling_image, local=LocalBundling(target)),
    )
    return lambda_.LayerVersion(
        scope,
        construct_id,
        code=code,
        compatible_runtimes=[runtime],
        compatible_architectures=[architecture],
        description=f"segflow functions' dependencies, pinned in {REQUIREMENTS_FILE}",
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
