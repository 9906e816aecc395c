"""The node role (``NODE_ROLE``): what nodes may do for a tenant, assumed per tenant with a session tag.

Its trust policy lets only the functions that run nodes assume it, and only tagging the session with a
``tenant``; its policy grants the user's resources the stack names, the services nodes call (secrets and
parameters under the tenant's own path only), the effect markers of the tenant's own executions, and denies
everything else of segflow's own tables and bucket outright.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from constructs import Construct
from segflow.declaration import (
    ASSUME_NODE_ROLE_ACTIONS,
    BUCKETS,
    NODE_ROLE,
    SAGEMAKER_SERVICE_PRINCIPAL,
    SERVICE_NAME,
    TABLES,
    UserResources,
    user_resource_grants,
)

from segflow_infra.cdk_util import acknowledge, pin_logical_id
from segflow_infra.permissions import (
    acknowledge_service_wildcards,
    acknowledge_user_resource_wildcards,
    pass_role_statement,
    service_statement,
)
from segflow_infra.storage import Storage


class TenantNodeRole(Construct):
    """The role, trusted by the roles of ``NODE_ROLE.assumed_by`` (which are granted to assume it)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        assumers: dict[str, iam.IRole],
        user_resources: UserResources,
        sagemaker_role_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        tag_condition = {
            # The session carries exactly one tag, the tenant, and it is not empty.
            "StringLike": {f"aws:RequestTag/{NODE_ROLE.session_tag}": "?*"},
            "ForAllValues:StringEquals": {"aws:TagKeys": [NODE_ROLE.session_tag]},
        }
        # sts:AssumeRole and sts:TagSession by the roles of the functions that run nodes, tagging the session.
        trusted = iam.CompositePrincipal(
            *(
                iam.SessionTagsPrincipal(iam.ArnPrincipal(assumers[logical_id].role_arn))
                for logical_id in NODE_ROLE.assumed_by
            )
        ).with_conditions(tag_condition)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=trusted,
            description=f"{SERVICE_NAME} nodes acting for one tenant (session tag '{NODE_ROLE.session_tag}')",
            max_session_duration=Duration.seconds(NODE_ROLE.session_seconds),
        )
        pin_logical_id(self.role, NODE_ROLE.logical_id)
        for logical_id in NODE_ROLE.assumed_by:
            assumers[logical_id].add_to_principal_policy(
                iam.PolicyStatement(
                    actions=list(ASSUME_NODE_ROLE_ACTIONS),
                    resources=[self.role.role_arn],
                    conditions=tag_condition,
                )
            )
        for grant in NODE_ROLE.services:
            self.role.add_to_policy(service_statement(self, grant))
        if sagemaker_role_arn:
            self.role.add_to_policy(pass_role_statement(sagemaker_role_arn, SAGEMAKER_SERVICE_PRINCIPAL))
        user_grants = user_resource_grants(user_resources)
        for user_grant in user_grants:
            self.role.add_to_policy(service_statement(self, user_grant))
        for partition in NODE_ROLE.partitions:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=list(partition.actions),
                    resources=[storage.tables[partition.table].table_arn],
                    conditions={
                        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [partition.leading_keys()]},
                        "ForAllValues:StringEquals": {"dynamodb:Attributes": list(partition.attributes)},
                    },
                )
            )
        self._deny_segflow_storage(storage)
        unscoped = [
            action for grant in NODE_ROLE.services if "*" in grant.resources for action in grant.actions
        ]
        if unscoped:
            acknowledge(
                self.role,
                "AwsSolutions-IAM5[Resource::*]",
                f"Only {', '.join(unscoped)} use '*': AWS supports no resource-level permissions for them.",
            )
        acknowledge_service_wildcards(self.role, NODE_ROLE.services, NODE_ROLE.logical_id)
        acknowledge_user_resource_wildcards(self.role, user_grants)

    def _deny_segflow_storage(self, storage: Storage) -> None:
        """No node reaches segflow's tables or bucket, whatever name it is given: an explicit Deny, less the
        one item action the partition grants allow (still bound by their conditions)."""
        allowed = {partition.table: partition.actions for partition in NODE_ROLE.partitions}
        for spec in TABLES:
            table = storage.tables[spec.logical_id]
            resources = [table.table_arn, f"{table.table_arn}/*"]
            if spec.logical_id in allowed:
                self.role.add_to_policy(
                    iam.PolicyStatement(
                        effect=iam.Effect.DENY,
                        not_actions=list(allowed[spec.logical_id]),
                        resources=resources,
                    )
                )
            else:
                self.role.add_to_policy(
                    iam.PolicyStatement(effect=iam.Effect.DENY, actions=["dynamodb:*"], resources=resources)
                )
        for bucket_spec in BUCKETS:
            bucket = storage.buckets[bucket_spec.logical_id]
            self.role.add_to_policy(
                iam.PolicyStatement(
                    effect=iam.Effect.DENY,
                    actions=["s3:*"],
                    resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
                )
            )
