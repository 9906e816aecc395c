"""The error names retry policies may list: generated from the error classes, documented in one place."""

from __future__ import annotations

from pathlib import Path

from segflow.dsl.models import RetryPolicy
from segflow.nodes.error_names import END, START, error_names, markdown

ARCHITECTURE = Path(__file__).parents[3] / "docs" / "architecture.md"


def test_the_documented_table_is_the_one_the_error_classes_give() -> None:
    text = ARCHITECTURE.read_text()
    documented = text[text.index(START) : text.index(END) + len(END)]
    assert documented == markdown(), "run: python -m segflow.nodes.error_names docs/architecture.md"


def test_every_name_is_listed_once_and_the_default_retry_on_names_exist() -> None:
    names = [e.name for e in error_names()]
    assert len(names) == len(set(names))
    retryable = {e.name for e in error_names() if e.retryable != "no"}
    assert {"NodeTimeout", "InvocationDeadline", "HttpTimeout", "HttpError", "ConnectionFailed"} <= retryable
    assert set(RetryPolicy().retry_on) <= retryable
    assert all(e.meaning for e in error_names()), [e.name for e in error_names() if not e.meaning]
