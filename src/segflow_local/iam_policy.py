"""IAM policy evaluation for the local runtime: does an identity policy allow one action on one resource?

The subset of AWS's evaluation logic that identity-based policies of one role need: an explicit Deny wins,
then any Allow, else the implicit deny. Actions match case-insensitively with ``*`` and ``?`` wildcards,
resources case-sensitively with the same wildcards; ``NotAction`` and ``NotResource`` are honoured. Condition
operators segflow's policies use are evaluated against the request's context keys; an operator or key the
request does not carry makes the statement not apply (the safe reading for Allow statements). Policy variables
(``${aws:PrincipalTag/tenant}``) in resources and condition values take the request's value of that key; a
request without it matches no such pattern, as in AWS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

Effect = Literal["Allow", "Deny"]


def _wildcard_body(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = re.split(r"(\$\{[*?$]\})", pattern)  # ${*}, ${?} and ${$} stand for the character itself
    body = "".join(
        re.escape(part[2]) if part in {"${*}", "${?}", "${$}"} else _wildcard_body(part) for part in parts
    )
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


_VARIABLE = re.compile(r"\$\{([^}*?$][^}]*)\}")  # not ${*}, ${?}, ${$}: those are characters


def substitute(pattern: str, context: Mapping[str, str | tuple[str, ...]]) -> str | None:
    """``pattern`` with its policy variables replaced by the request's values (None: one is missing).
    A value is matched literally: its own ``*`` or ``?`` are no wildcards."""
    if "${" not in pattern:
        return pattern
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        found = context.get(match.group(1))
        if not isinstance(found, str):
            missing = True
            return ""
        return found.replace("*", "${*}").replace("?", "${?}")

    substituted = _VARIABLE.sub(value, pattern)
    return None if missing else substituted


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


@dataclass(frozen=True)
class AuthorizationRequest:
    """One action on one resource (``*`` for actions without resource types), with its condition keys."""

    action: str
    resource: str
    context: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)


def _condition_holds(operator: str, key_values: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    base = operator.removesuffix("IfExists")
    if base.startswith("ForAnyValue:"):
        inner = base.removeprefix("ForAnyValue:")
        return any(_condition_holds(inner, (value,), wanted) for value in key_values)
    if base.startswith("ForAllValues:"):
        inner = base.removeprefix("ForAllValues:")
        return all(_condition_holds(inner, (value,), wanted) for value in key_values)
    if not key_values:
        return False
    value = key_values[0]
    checks: dict[str, Callable[[str], bool]] = {
        "StringEquals": lambda w: value == w,
        "StringNotEquals": lambda w: value != w,
        "StringEqualsIgnoreCase": lambda w: value.lower() == w.lower(),
        "StringLike": lambda w: wildcard_match(w, value),
        "StringNotLike": lambda w: not wildcard_match(w, value),
        "ArnEquals": lambda w: value == w,
        "ArnLike": lambda w: wildcard_match(w, value),
        "Bool": lambda w: value.lower() == w.lower(),
    }
    check = checks.get(base)
    if check is None:
        return False  # an operator this evaluator does not know never grants anything
    if base in {"StringNotEquals", "StringNotLike"}:
        return all(check(w) for w in wanted)
    return any(check(w) for w in wanted)


def _matches(pattern: str, resource: str, context: Mapping[str, str | tuple[str, ...]]) -> bool:
    substituted = substitute(pattern, context)
    return substituted is not None and wildcard_match(substituted, resource)


@dataclass(frozen=True)
class Statement:
    effect: Effect
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, statement: Mapping[str, Any]) -> Statement:
        unknown = set(statement) - {
            "Effect",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
            "Sid",
        }
        if unknown:
            raise ValueError(f"policy statement with {sorted(unknown)}: not an identity policy statement")
        conditions = {
            operator: {key: _strings(values) for key, values in keys.items()}
            for operator, keys in (statement.get("Condition") or {}).items()
        }
        return cls(
            effect=statement["Effect"],
            actions=_strings(statement.get("Action")),
            not_actions=_strings(statement.get("NotAction")),
            resources=_strings(statement.get("Resource")),
            not_resources=_strings(statement.get("NotResource")),
            conditions=conditions,
        )

    def without_action(self, action: str) -> Statement | None:
        """This statement less one action (None when nothing is left): for tests that remove a grant."""
        kept = tuple(a for a in self.actions if a.lower() != action.lower())
        if kept == self.actions:
            return self
        return (
            Statement(
                self.effect, kept, self.not_actions, self.resources, self.not_resources, self.conditions
            )
            if kept
            else None
        )

    def _action_applies(self, action: str) -> bool:
        if self.not_actions:
            return not any(wildcard_match(p, action, ignore_case=True) for p in self.not_actions)
        return any(wildcard_match(p, action, ignore_case=True) for p in self.actions)

    def _resource_applies(self, resource: str, context: Mapping[str, str | tuple[str, ...]]) -> bool:
        if self.not_resources:
            return not any(_matches(p, resource, context) for p in self.not_resources)
        return any(p == "*" or _matches(p, resource, context) for p in self.resources)

    def _conditions_hold(self, context: Mapping[str, str | tuple[str, ...]]) -> bool:
        for operator, keys in self.conditions.items():
            for key, patterns in keys.items():
                wanted = tuple(w for w in (substitute(p, context) for p in patterns) if w is not None)
                present = context.get(key)
                if present is None:
                    if operator.endswith("IfExists"):
                        continue
                    return False
                values = (present,) if isinstance(present, str) else tuple(present)
                if not _condition_holds(operator, values, wanted):
                    return False
        return True

    def applies(self, request: AuthorizationRequest) -> bool:
        return (
            self._action_applies(request.action)
            and self._resource_applies(request.resource, request.context)
            and self._conditions_hold(request.context)
        )


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]

    def decide(self, request: AuthorizationRequest) -> Literal["allow", "explicit_deny", "implicit_deny"]:
        allowed = False
        for statement in self.statements:
            if statement.applies(request):
                if statement.effect == "Deny":
                    return "explicit_deny"
                allowed = True
        return "allow" if allowed else "implicit_deny"

    def allows(self, request: AuthorizationRequest) -> bool:
        return self.decide(request) == "allow"

    def without_action(self, action: str) -> Policy:
        """The same policy with ``action`` removed from every statement that lists it."""
        kept = (s.without_action(action) for s in self.statements)
        return Policy(tuple(s for s in kept if s is not None))

    def actions(self) -> set[str]:
        return {action for statement in self.statements for action in statement.actions}
