"""The workflow language's one truth rule: whether a value counts as true (judgments, loops' ``until``).

False: null, false, 0, "", the text "false" (any case, spaces around ignored), [] and {}. Everything else is
true: "true", "0", "no", any other number, text, list or object. docs/workflow-language.md has the table.
"""

from __future__ import annotations

from typing import Any


def truth(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false")
    if isinstance(value, list | tuple | dict):
        return len(value) > 0
    return True
