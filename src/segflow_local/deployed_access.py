"""What each deployed function may do, as the synthesized CloudFormation template grants it, with local names.

The snapshot (``infra/deployed-access.json``) is the IAM part of the template ``cdk synth`` writes: for every
Lambda function, the statements of every policy attached to its role, exactly as CloudFormation receives them
(``Fn::GetAtt``, ``Fn::Join``, ``Ref`` and all). ``make access`` rewrites it; a test synthesizes the stack and
fails if the snapshot differs, so the policy the local runtime enforces is the policy that deploys. Only the
stage name is abstracted: ``segflow-<stage>-`` in the template becomes ``segflow-${Stage}-`` here.

Resolving a snapshot replaces each intrinsic with the local stack's name or ARN for the same logical id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segflow.declaration import NODE_ROLE

from segflow_local.iam_policy import Policy, Statement

REPO_ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT_PATH = REPO_ROOT / "infra" / "deployed-access.json"
STAGE_PLACEHOLDER = "${Stage}"
STATE_MACHINE_ROLE = "StateMachine"  # the snapshot's key for the state machine's own role

_FUNCTION = "AWS::Lambda::Function"
_ROLE = "AWS::IAM::Role"
_POLICY = "AWS::IAM::Policy"
_STATE_MACHINE = "AWS::StepFunctions::StateMachine"


class UnresolvableReference(ValueError):
    """The snapshot names something the local stack has no counterpart for."""


def _role_id(value: Any) -> str:
    if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn":
        return str(value["Fn::GetAtt"][0])
    raise ValueError(f"a role given as {value!r}, not as the ARN of a role of the stack")


def _abstract_stage(value: Any, stage: str) -> Any:
    if isinstance(value, str):
        return value.replace(f"segflow-{stage}-", f"segflow-{STAGE_PLACEHOLDER}-")
    if isinstance(value, list):
        return [_abstract_stage(item, stage) for item in value]
    if isinstance(value, dict):
        return {key: _abstract_stage(item, stage) for key, item in value.items()}
    return value


def _referenced_ids(value: Any, found: set[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _referenced_ids(item, found)
    elif isinstance(value, dict):
        if "Ref" in value and not str(value["Ref"]).startswith("AWS::"):
            found.add(str(value["Ref"]))
        if "Fn::GetAtt" in value:
            found.add(str(value["Fn::GetAtt"][0]))
        for item in value.values():
            _referenced_ids(item, found)


def _trust(document: dict[str, Any], roles: dict[str, str]) -> list[dict[str, Any]]:
    """A role's trust statements, each naming the functions whose roles it trusts (not their role ids)."""
    functions_by_role = {role_id: owner for owner, role_id in roles.items()}
    trust = []
    for statement in document["Statement"]:
        trusted = statement.get("Principal", {}).get("AWS", [])
        trusted = trusted if isinstance(trusted, list) else [trusted]
        functions = sorted(functions_by_role[_role_id(principal)] for principal in trusted)
        trust.append(
            {
                "Effect": statement["Effect"],
                "Action": statement["Action"],
                "Condition": statement.get("Condition", {}),
                "Functions": functions,
            }
        )
    return trust


def snapshot_from_template(template: dict[str, Any], stage: str) -> dict[str, Any]:
    """The IAM statements of each function's role (and the state machine's), from a synthesized template."""
    resources: dict[str, Any] = template["Resources"]
    statements_by_role: dict[str, list[Any]] = {}
    for resource in resources.values():
        if resource["Type"] != _POLICY:
            continue
        properties = resource["Properties"]
        for role in properties.get("Roles", []):
            statements_by_role.setdefault(role["Ref"], []).extend(properties["PolicyDocument"]["Statement"])
    roles: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] == _FUNCTION:
            roles[logical_id] = _role_id(resource["Properties"]["Role"])
        elif resource["Type"] == _STATE_MACHINE:
            roles[STATE_MACHINE_ROLE] = _role_id(resource["Properties"]["RoleArn"])
    if NODE_ROLE.logical_id in resources:
        roles[NODE_ROLE.logical_id] = NODE_ROLE.logical_id
    principals: dict[str, Any] = {}
    for owner, role_id in sorted(roles.items()):
        role = resources[role_id]["Properties"]
        if role.get("ManagedPolicyArns"):
            raise ValueError(f"{owner}'s role has managed policies, which the local runtime cannot read")
        statements = list(statements_by_role.get(role_id, []))
        for inline in role.get("Policies", []):
            statements.extend(inline["PolicyDocument"]["Statement"])
        principals[owner] = {"statements": statements}
        if owner == NODE_ROLE.logical_id:
            principals[owner]["trust"] = _trust(role["AssumeRolePolicyDocument"], roles)
    referenced: set[str] = set()
    _referenced_ids(principals, referenced)
    return {
        "comment": "Generated by `make access` from the synthesized stack; "
        "tests/infra/test_deployed_access.py keeps it identical to the template. "
        "The local runtime enforces these policies.",
        "principals": _abstract_stage(principals, stage),
        "resource_types": {lid: resources[lid]["Type"] for lid in sorted(referenced) if lid in resources},
    }


def load_snapshot(path: Path = SNAPSHOT_PATH) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


@dataclass(frozen=True)
class LocalNames:
    """The local stack's counterparts of the template's resources, by logical id."""

    region: str
    account: str
    stage: str
    refs: Mapping[str, str]  # logical id -> what Ref gives (a name; an ARN for a state machine)
    attributes: Mapping[tuple[str, str], str]  # (logical id, attribute) -> what Fn::GetAtt gives


class _Resolver:
    def __init__(self, names: LocalNames, resource_types: Mapping[str, str]) -> None:
        self.names = names
        self.types = resource_types

    def pseudo(self, name: str) -> str:
        values = {
            "AWS::Region": self.names.region,
            "AWS::AccountId": self.names.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name not in values:
            raise UnresolvableReference(f"pseudo parameter {name}")
        return values[name]

    def ref(self, logical_id: str) -> str:
        if logical_id.startswith("AWS::"):
            return self.pseudo(logical_id)
        if logical_id in self.names.refs:
            return self.names.refs[logical_id]
        return self._unmatched(logical_id, "Ref")

    def get_att(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) in self.names.attributes:
            return self.names.attributes[(logical_id, attribute)]
        return self._unmatched(logical_id, attribute)

    def _unmatched(self, logical_id: str, attribute: str) -> str:
        # Log groups, X-Ray and the like: resources the local runtime has no counterpart of and segflow's
        # handlers never call. They resolve to an ARN no request can match, so a grant on them allows nothing.
        if self.types.get(logical_id) in {"AWS::Logs::LogGroup"}:
            return f"arn:segflow-local:unresolved:::{logical_id}/{attribute}"
        raise UnresolvableReference(
            f"{logical_id}.{attribute} ({self.types.get(logical_id, 'not in the stack')})"
        )

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(STAGE_PLACEHOLDER, self.names.stage)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                return self.get_att(argument[0], argument[1])
            if key == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.value(part)) for part in parts)
            if key == "Fn::Select":
                index, items = argument
                return self.value(items)[int(self.value(index))]
            if key == "Fn::Split":
                separator, text = argument
                return str(self.value(text)).split(separator)
            if key.startswith("Fn::"):
                raise UnresolvableReference(f"intrinsic {key}")
        return {key: self.value(item) for key, item in value.items()}


def resolve_policies(snapshot: Mapping[str, Any], names: LocalNames) -> dict[str, Policy]:
    """Each principal's policy (function logical id, or ``StateMachine``) with local names and ARNs."""
    resolver = _Resolver(names, snapshot["resource_types"])
    policies = {}
    for owner, principal in snapshot["principals"].items():
        statements = [Statement.from_json(resolver.value(s)) for s in principal["statements"]]
        policies[owner] = Policy(tuple(statements))
    return policies


@dataclass(frozen=True)
class Trust:
    """Who may assume a role: the functions whose roles it trusts, and the conditions of their requests."""

    functions: frozenset[str]
    conditions: Policy  # the trust statements, their principals left out (``functions`` names them)


def resolve_trusts(snapshot: Mapping[str, Any], names: LocalNames) -> dict[str, Trust]:
    """Each assumable role's trust (by role logical id), with local names."""
    resolver = _Resolver(names, snapshot["resource_types"])
    trusts = {}
    for owner, principal in snapshot["principals"].items():
        if "trust" not in principal:
            continue
        statements = principal["trust"]
        functions = frozenset(f for statement in statements for f in statement["Functions"])
        conditions = [
            Statement.from_json(
                resolver.value(
                    {
                        "Effect": statement["Effect"],
                        "Action": statement["Action"],
                        "Resource": "*",
                        "Condition": statement["Condition"],
                    }
                )
            )
            for statement in statements
        ]
        trusts[owner] = Trust(functions, Policy(tuple(conditions)))
    return trusts
