"""One Step Functions state machine per STATE_MACHINES entry, its role, its logs and its failure events."""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk
import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from segflow.declaration import LOG_RETENTION_DAYS, STATE_MACHINES, StateMachineSpec, Substitution

from segflow_infra import asl
from segflow_infra.cdk_util import (
    acknowledge,
    arn_token,
    pin_logical_id,
    retention,
    state_machine_arn,
    state_machine_name,
    states_arn,
)
from segflow_infra.paths import repo_path
from segflow_infra.permissions import acknowledge_prefix_wildcards, s3_prefix_statement
from segflow_infra.storage import Storage

EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
FAILED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")


class Orchestration(Construct):
    """The declared state machines, keyed by logical id."""

    def __init__(
        self, scope: Construct, construct_id: str, *, storage: Storage, functions: dict[str, lambda_.Function]
    ) -> None:
        super().__init__(scope, construct_id)
        self.workflows: dict[str, Workflow] = {
            spec.logical_id: Workflow(self, spec.logical_id, spec=spec, storage=storage, functions=functions)
            for spec in STATE_MACHINES
        }

    @property
    def state_machines(self) -> dict[str, sfn.StateMachine]:
        return {logical_id: workflow.state_machine for logical_id, workflow in self.workflows.items()}


class Workflow(Construct):
    """A state machine built from its ASL file, plus the rule that reports its failed executions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: StateMachineSpec,
        storage: Storage,
        functions: dict[str, lambda_.Function],
    ) -> None:
        super().__init__(scope, construct_id)
        self._spec = spec
        self._storage = storage
        self._functions = functions
        # A fixed name lets the role name its own state machine's ARN without a dependency cycle.
        self.state_machine_name = state_machine_name(self, spec.logical_id)
        definition_text = repo_path(spec.definition_file).read_text()
        definition = asl.parse(definition_text)
        _check_definition(spec, definition_text, definition)

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description=f"{self.state_machine_name}: invoke its declared functions, read its Map items",
        )
        self._grant(definition)
        # The /aws/vendedlogs/ prefix keeps Step Functions from adding to the account's size-limited
        # CloudWatch Logs resource policy.
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{self.state_machine_name}",
            retention=retention(LOG_RETENTION_DAYS),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition_text),
            definition_substitutions={name: self._value(sub) for name, sub in spec.substitutions.items()},
            role=self.role,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
            tracing_enabled=True,
        )
        pin_logical_id(self.state_machine, spec.logical_id)
        self._acknowledge(definition)
        self.failed_executions_rule, self.execution_events = self._failed_executions_rule()

    def _value(self, substitution: Substitution) -> str:
        resolvers: dict[str, Callable[[str], str]] = {
            "function_arn": lambda ref: self._functions[ref].function_arn,
            "bucket_name": lambda ref: self._storage.buckets[ref].bucket_name,
            "table_name": lambda ref: self._storage.tables[ref].table_name,
        }
        return resolvers[substitution.kind](substitution.ref)

    def _grant(self, definition: dict[str, object]) -> None:
        for logical_id in self._spec.invokes:
            function_arn = self._functions[logical_id].function_arn
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"], resources=[function_arn, f"{function_arn}:*"]
                )
            )
        for grant in self._spec.reads_items_from:
            self.role.add_to_policy(s3_prefix_statement(self._storage.buckets[grant.bucket], grant))
        if asl.has_distributed_map(definition):
            # A Distributed Map runs its items as child executions of this same state machine.
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["states:StartExecution"],
                    resources=[state_machine_arn(self, self._spec.logical_id)],
                )
            )
            # Child executions are named <state machine>/<map run label>:<id>; redriving the parent
            # redrives its failed children, which needs RedriveExecution on them.
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["states:DescribeExecution", "states:StopExecution", "states:RedriveExecution"],
                    resources=[states_arn(self, "execution", f"{self.state_machine_name}/*")],
                )
            )

    def _acknowledge(self, definition: dict[str, object]) -> None:
        for logical_id in self._spec.invokes:
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Resource::{arn_token(logical_id)}:*]",
                f"Invokes {logical_id} by unqualified or qualified ARN (versions, aliases): "
                "that one function only.",
            )
        acknowledge_prefix_wildcards(self.role, self._spec.reads_items_from, self.state_machine_name)
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Only the CloudWatch Logs delivery actions (logs:CreateLogDelivery and friends) and the X-Ray "
            "actions that CDK adds for logging and tracing use '*': AWS defines them without resources.",
        )
        if asl.has_distributed_map(definition):
            child_executions = (
                "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
                f"{self.state_machine_name}/*"
            )
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Resource::{child_executions}]",
                "The Distributed Map's child executions of this state machine only; their names are "
                "generated per map run, so no narrower ARN exists.",
            )

    def _failed_executions_rule(self) -> tuple[events.Rule, logs.LogGroup]:
        execution_events = logs.LogGroup(
            self,
            "FailedExecutions",
            log_group_name=f"/aws/events/{self.state_machine_name}/failed-executions",
            retention=retention(LOG_RETENTION_DAYS),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        rule = events.Rule(
            self,
            "FailedExecutionsRule",
            description=f"Executions of {self.state_machine_name} that failed, timed out or were aborted",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=[EXECUTION_STATUS_CHANGE],
                detail={
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                    "status": list(FAILED_STATUSES),
                },
            ),
        )
        # For now the events are only kept in a log group. The failure-handler Lambda (a later issue)
        # becomes a second target here: rule.add_target(targets.LambdaFunction(handler, ...)).
        rule.add_target(LogGroupTarget(execution_events))
        return rule, execution_events


@jsii.implements(events.IRuleTarget)
class LogGroupTarget:
    """EventBridge -> CloudWatch Logs with a native resource policy.

    ``aws_events_targets.CloudWatchLogGroup`` installs the policy through a custom resource, i.e. an
    extra Node.js Lambda function with ``logs:PutResourcePolicy`` on '*'; AWS::Logs::ResourcePolicy
    does it natively.
    """

    def __init__(self, log_group: logs.LogGroup) -> None:
        self._log_group = log_group

    def bind(self, rule: events.IRule, id: str | None = None) -> events.RuleTargetConfig:
        result = self._log_group.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self._log_group.log_group_arn],
            )
        )
        if result.policy_dependable is not None:
            rule.node.add_dependency(result.policy_dependable)
        target_arn = cdk.Stack.of(self._log_group).format_arn(
            service="logs",
            resource="log-group",
            resource_name=self._log_group.log_group_name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        return events.RuleTargetConfig(arn=target_arn, target_resource=self._log_group)


def _check_definition(spec: StateMachineSpec, definition_text: str, definition: dict[str, object]) -> None:
    """Fail at synth, not at deploy, when the ASL file and the declaration disagree."""
    used = asl.placeholders(definition_text)
    declared = set(spec.substitutions)
    if used != declared:
        raise ValueError(
            f"{spec.definition_file}: placeholders without substitution {sorted(used - declared)}, "
            f"substitutions never used {sorted(declared - used)}"
        )
    for reference in asl.lambda_references(definition):
        name = asl.PLACEHOLDER.fullmatch(reference)
        sub = spec.substitutions.get(name.group(1)) if name else None
        if sub is None or sub.kind != "function_arn" or sub.ref not in spec.invokes:
            raise ValueError(
                f"{spec.definition_file}: Task resource {reference} is not a declared invoked function"
            )
    if asl.has_item_reader(definition) and not spec.reads_items_from:
        raise ValueError(f"{spec.definition_file}: an ItemReader needs reads_items_from in the declaration")
